import Foundation
import BuiltInGuests
import Swtpm
import Migration
import RegionProtocol
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing
import TPM

/// VMs in a live region: the RC-TCB's inventory, real QEMU guests (the ticker guest), evacuation and the gated
/// `migrate`, all through the real binary.
extension LoopbackRegion {
    /// The guest's tick counter on `host`.
    func counter(_ vm: String, on host: String) async throws -> UInt32 {
        let h = try inventory().host(named: host)
        let d = QEMUDriver()
        return try await d.readGuestWord(d.instance(of: vm, on: h, port: nil), physicalAddress: TestGuest.counterAddress)
    }

    /// `vm` runs exactly once, on a host other than `notOn`, and its counter grows there. Returns that host.
    @discardableResult
    func runsOnce(_ vm: String, notOn: String) async throws -> String {
        let copies = try await copies(of: vm)
        #expect(copies.count == 1, "\(vm) has copies \(copies)")
        let (host, state) = try #require(copies.first)
        #expect(host != notOn)
        #expect(state == .running, "\(vm) on \(host) is \(state)")
        #expect(try inventory().vm(named: vm).host == host)
        let a = try await counter(vm, on: host)
        try await Task.sleep(for: .milliseconds(300))
        let b = try await counter(vm, on: host)
        #expect(b > a, "\(vm)'s counter did not grow on \(host): \(a) → \(b)")
        return host
    }

    /// Kills every QEMU the fixture's inventory started (sync: used from deinit paths and defers).
    func killGuests() { killProcesses(pidFilesUnder: "\(rctcbDir)/hosts") }

    func events() throws -> [IVTEvent] { try store().events(since: 0, limit: 100_000) }

    /// `smig-attest migrate` through the RC-TCB; its exit status and output.
    func gatedMigrate(_ vm: String, to target: String) throws -> (status: Int32, output: String) {
        let r = try ToolRun.run(options.binary, ["migrate", vm, "--to", target, "--rctcb", url, "--dir", rctcbDir, "--json"])
        return (r.status, r.output)
    }
}

@Suite("Evacuation in a live region", .serialized)
struct EvacuationLiveTests {
    /// A compromised host's VMs move to re-attested hosts and keep counting; the gated `migrate` refuses an
    /// untrusted or unknown target and moves to a trusted one.
    @Test func compromisedHostIsEmptiedAndMigrateIsGated() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3)
        defer { r.killGuests() }
        try r.addVMHosts()
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        try await r.startVM("vm-a", on: "host-1")
        try await r.startVM("vm-b", on: "host-1")
        try await r.startVM("vm-c", on: "host-2")

        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
        try await r.wait("host-1 evacuated", seconds: 180) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
        let row = try #require(try r.rows().first { $0.host == "host-1" })
        #expect(row.failureCode == "golden.digest-not-allowed", "\(row)")
        #expect(row.vms.isEmpty, "\(row.vms)")
        for vm in ["vm-a", "vm-b"] {
            let host = try await r.runsOnce(vm, notOn: "host-1")
            #expect(try r.state(host) == .trusted)
            // Each move: target challenged, migrated paused, re-attested, and only then resumed.
            let steps = try r.events().filter { $0.evacuation?.vm == vm && $0.evacuationStep != nil }.map(\.kind)
            let order = ["evacuation.target-challenged", "evacuation.migrated", "evacuation.target-reattested", "evacuation.resumed"]
            let positions = order.map { steps.firstIndex(of: $0) }
            #expect(positions.allSatisfy { $0 != nil } && positions.map { $0 ?? -1 } == positions.map { $0 ?? -1 }.sorted(), "\(steps)")
        }
        #expect(try r.events().contains { $0.host == "host-1" && $0.newState == "evacuating" })

        // The gated migrate: an untrusted target and an unknown one are refused with their reason, nothing moves.
        let refused = try r.gatedMigrate("vm-c", to: "host-1")
        #expect(refused.status != 0 && refused.output.contains("migrate.target-untrusted"), "\(refused)")
        let unknown = try r.gatedMigrate("vm-c", to: "host-9")
        #expect(unknown.status != 0 && unknown.output.contains("migrate.target-unknown"), "\(unknown)")
        #expect(try await r.copies(of: "vm-c").keys.sorted() == ["host-2"])
        let moved = try r.gatedMigrate("vm-c", to: "host-3")
        #expect(moved.status == 0, "\(moved)")
        #expect(try await r.runsOnce("vm-c", notOn: "host-2") == "host-3")
    }

    /// A target that looks trusted but fails the challenge right before the move never receives the VM.
    @Test func targetFailingTheLastMomentChallengeGetsNothing() async throws {
        // No pushes and a slow ring: the tampering is seen only by the RC-TCB's challenge before the move.
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3, push: false, challengeInterval: 30, maxQuoteAge: "60s")
        defer { r.killGuests() }
        try r.addVMHosts()
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        try await r.startVM("vm-x", on: "host-1")
        let logPath = "\(r.hosts[1].stateDirectory)/measurements.log"
        let before = (try? Data(contentsOf: URL(fileURLWithPath: logPath)).count) ?? 0
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[1].hypervisorFile ?? ""))
        try await waitUntilAsync("host-2's agent extended the change", seconds: 60) { ((try? Data(contentsOf: URL(fileURLWithPath: logPath)).count) ?? 0) > before }
        #expect(try r.state("host-2") == .trusted)

        let result = try r.gatedMigrate("vm-x", to: "host-2")
        #expect(result.status != 0 && result.output.contains("migrate.target-failed-challenge"), "\(result)")
        #expect([.untrusted, .evacuated].contains(try r.state("host-2")))
        #expect(try await r.copies(of: "vm-x").keys.sorted() == ["host-1"])
        try await r.runsOnce("vm-x", notOn: "host-2")
        #expect(try r.inventory().migrations(vm: "vm-x").isEmpty)
    }

    /// A target that fails re-attestation after the transfer never resumes the VM; the next candidate takes it.
    @Test func targetFailingReattestationNeverRunsTheVM() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3)
        defer { r.killGuests() }
        // The hook runs after each transfer: it tampers host-2 (the first candidate) and waits for its agent.
        let evil = "\(r.dir)/evil.bin"
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: evil))
        r.stopRCTCB(0)
        try r.startRCTCB(0, executable: [try TestBinaries.rctcbHooked()] + ["--run-after", "evacuation.migrated=cp \(evil) \(r.hosts[1].hypervisorFile ?? ""); sleep 1.5"])
        try r.addVMHosts()
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        try await r.startVM("vm-r", on: "host-1")

        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
        try await r.wait("host-1 evacuated", seconds: 180) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
        #expect(try await r.runsOnce("vm-r", notOn: "host-1") == "host-3")
        #expect([.untrusted, .evacuated].contains(try r.state("host-2")))
        let migrations = try r.inventory().migrations(vm: "vm-r")
        let toHost2 = try #require(migrations.first { $0.target == "host-2" })
        #expect(toHost2.outcome == .rolledBack)
        #expect(toHost2.step < .targetResumed, "\(toHost2)")
        #expect(try r.events().contains { $0.kind == "evacuation.target-refused" && $0.host == "host-2" })
    }
}

/// The RC-TCB SIGKILLed right after each step of an evacuation: after a restart the evacuation ends with the VM
/// running exactly once on the trusted host, never lost, never twice.
@Suite("Evacuation survives an RC-TCB crash", .serialized)
struct EvacuationCrashLiveTests {
    static let steps = [
        "evacuation.started", "evacuation.target-chosen", "evacuation.target-challenged", "planned", "target-prepared",
        "transfer-started", "transferred", "evacuation.migrated", "evacuation.target-reattested", "target-resumed",
        "source-stopped", "completed", "evacuation.resumed",
    ]

    @Test(arguments: steps)
    func crashAfter(step: String) async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 2)
        defer { r.killGuests() }
        r.stopRCTCB(0)
        try r.startRCTCB(0, executable: [try TestBinaries.rctcbHooked()] + ["--crash-after", step])
        try r.addVMHosts()
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        try await r.startVM("vm-k", on: "host-1")
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
        let server = try #require(r.rctcbProcess(0))
        try await waitUntilAsync("the RC-TCB to die after \(step)", seconds: 180) { !server.isRunning }
        #expect(server.terminationReason == .uncaughtSignal && server.terminationStatus == SIGKILL)
        // Never two running copies, whatever the moment.
        #expect(try await r.copies(of: "vm-k").values.filter { $0 == .running }.count <= 1)

        try r.startRCTCB(0)
        try await r.wait("host-1 evacuated after the restart", seconds: 180) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
        try await waitUntilAsync("vm-k settles on host-2") { (try await r.copies(of: "vm-k")) == ["host-2": .running] }
        #expect(try await r.runsOnce("vm-k", notOn: "host-1") == "host-2")
        #expect(try r.inventory().openMigrations().isEmpty)
    }
}

