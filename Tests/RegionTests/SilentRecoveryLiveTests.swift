import Foundation
import Migration
import Policy
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

@Suite("A silent host that proves good again", .serialized)
struct SilentRecoveryLiveTests {
    /// host-1 falls silent (its agent stopped) while the only other host is compromised: it is evacuated, and with
    /// no target its VMs are paused where they are. Its agent comes back and its evidence verifies `trusted`: it
    /// leaves `evacuating` for `trusted`, and its VMs run again in place (`resume-in-place`) or stay paused until
    /// the operator resumes them (`keep-paused`).
    @Test(arguments: [RegionPolicy.SilentRecovered.resumeInPlace, .keepPaused])
    func silentHostVerifiedTrustedLeavesEvacuating(_ recovery: RegionPolicy.SilentRecovered) async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 2, policyExtra: "evacuation: {max-parallel: 4, no-target: pause, silent-recovered: \(recovery.rawValue)}\n")
        defer { r.killGuests() }
        try r.addVMHosts()
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        try await r.startVM("vm-s1", on: "host-1")
        try await r.startVM("vm-s2", on: "host-1")
        // No target: host-2 is compromised (and holds no VM, so it stays `untrusted`).
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[1].hypervisorFile ?? ""))
        try await r.wait("host-2 untrusted", seconds: 120) { rows in rows.first { $0.host == "host-2" }?.state == .untrusted }

        r.stopAgent(0)
        try await r.wait("host-1 evacuating", seconds: 180) { rows in rows.first { $0.host == "host-1" }?.state == .evacuating }
        try await waitUntilAsync("vm-s1 and vm-s2 paused on host-1", seconds: 120) { try await Self.pausedOnHost1(r) }
        #expect(try r.events().contains { $0.kind == "evacuation.no-target" && $0.host == "host-1" })
        let open = try #require(try r.evacuations().first { $0.host == "host-1" })
        #expect(open.causeState == "unreachable" && open.causeCode == "host.unreachable" && open.endedAt == nil, "\(open)")

        try r.startAgent(0)
        try await r.wait("host-1 trusted again", seconds: 180) { rows in rows.first { $0.host == "host-1" }?.state == .trusted }
        // The evacuation's closing event follows the state change (after the VMs were dealt with).
        try await waitUntilAsync("the evacuation of host-1 recovered", seconds: 60) { try r.events().contains { $0.kind == "evacuation.recovered" && $0.host == "host-1" } }
        let recovered = try #require(try r.events().first { $0.kind == "evacuation.recovered" && $0.host == "host-1" })
        let closed = try #require(try r.evacuations().first { $0.host == "host-1" })
        #expect(closed.id == open.id && closed.outcome == "recovered" && closed.endedAt != nil, "\(closed)")
        switch recovery {
        case .resumeInPlace:
            #expect(recovered.detail?.contains("resumed in place: [vm-s1, vm-s2]") == true, "\(recovered)")
        case .keepPaused:
            #expect(recovered.detail?.contains("kept paused: [vm-s1, vm-s2]") == true, "\(recovered)")
            #expect(try await Self.pausedOnHost1(r))
            // The operator resumes them.
            for vm in ["vm-s1", "vm-s2"] { try r.run(["vm", "resume", vm, "--state-dir", r.rctcbDir]) }
        }
        for vm in ["vm-s1", "vm-s2"] { #expect(try await r.runsOnce(vm, notOn: "host-2") == "host-1") }
        #expect(try r.inventory().vms().allSatisfy { $0.host == "host-1" && $0.state == .running })
        #expect(try r.inventory().openMigrations().isEmpty)
        // It stays trusted (no evacuation starts again) and its VMs keep running.
        try await Task.sleep(for: .seconds(5))
        #expect(try r.state("host-1") == .trusted)
        #expect(try r.inventory().vms().allSatisfy { $0.state == .running })
        // No phantom transitions: every change of state the RC-TCB logged (and told its decision engine of) is one the
        // IVT's audit trail holds, host by host and in order, also while host-1's good quotes arrived as it was
        // being evacuated.
        let audited = try r.events().filter { $0.kind == "state" }.map { "\($0.host ?? "") \($0.oldState ?? "") → \($0.newState ?? "")" }
        let logged = Self.loggedTransitions(r.rctcbOutput(0))
        for host in ["host-1", "host-2"] {
            #expect(logged.filter { $0.hasPrefix(host + " ") } == audited.filter { $0.hasPrefix(host + " ") }, "\(host)")
        }
        #expect(logged.contains("host-1 evacuating → trusted"))
    }

    /// "HOST OLD → NEW" for each `host state changed` line of the RC-TCB's log.
    static func loggedTransitions(_ log: String) -> [String] {
        log.split(separator: "\n").filter { $0.contains("host state changed") }.map { line in
            func value(_ key: String) -> String {
                guard let r = line.range(of: "attest.\(key)=") else { return "?" }
                return String(line[r.upperBound...].prefix { $0 != " " })
            }
            return "\(value("host")) \(value("old")) → \(value("new"))"
        }
    }

    /// Both VMs are recorded and held paused on host-1, and nowhere else has a copy.
    static func pausedOnHost1(_ r: LoopbackRegion) async throws -> Bool {
        let recorded = try r.inventory().vms().allSatisfy { $0.host == "host-1" && $0.state == .paused }
        let s1 = try await r.copies(of: "vm-s1"), s2 = try await r.copies(of: "vm-s2")
        return recorded && s1 == ["host-1": .paused] && s2 == ["host-1": .paused]
    }
}
