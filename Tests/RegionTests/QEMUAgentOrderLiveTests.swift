#if canImport(Glibc)
import Glibc
#endif
import BuiltInGuests
import Foundation
import Migration
import NIOCore
import RegionProtocol
import RegionLab
import RegionTCB
import SmigTestSupport
import Swtpm
import Testing

/// Migration orders through the agents on two QEMU hosts (loopback): each host's real agent (`agent run`, enrolled
/// through its swtpm) has the QEMU VM manager over its own VM directory, and the lab's counting guest — a QEMU process
/// launched there as `smig-attest vm start` launches it, not by the agent — moves by orders from host-1 to host-2: the
/// target's agent launches the receiving QEMU paused from the machine host-1's agent reported, host-1's agent sends the
/// state with the order's tuning, and the copy runs only when the RC-TCB side says resume. One QEMU process is left,
/// counting on from where it was.
@Suite("Migration orders through the agents, on two QEMU hosts", .serialized)
struct QEMUAgentOrderLiveTests {
    /// Two hosts' VM directories and their shared image directory, under a short path (QMP socket paths fit 107
    /// bytes); every process mentioning it is SIGKILLed at the end.
    final class Lab: Sendable {
        let root: String
        let image: String
        let ranges: [ClosedRange<Int>]

        init() throws {
            var template = Array("/tmp/smq-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw RegionFixtureFailure(description: "mkdtemp failed") }
            root = String(cString: made)
            image = try TestGuest.writeImage(to: "\(root)/images/guest.img")
            // Ten ports per host below the ephemeral range, nothing listening on them now.
            let base = 22000 + Int(getpid() % 400) * 20
            ranges = [base...(base + 9), (base + 10)...(base + 19)]
        }

        func directory(_ i: Int) -> String { "\(root)/h\(i + 1)" }
        func host(_ i: Int) -> MigrationHost {
            MigrationHost(name: "host-\(i + 1)", address: "127.0.0.1", portLow: ranges[i].lowerBound, portHigh: ranges[i].upperBound,
                          stateDirectory: directory(i))
        }

        func agentKeys(_ i: Int) -> [String: Any] {
            ["vmManager": "qemu", "vmManagerURI": directory(i), "vmImageDirectory": "\(root)/images",
             "migrationAddress": "tcp:127.0.0.1:\(ranges[i].lowerBound)-\(ranges[i].upperBound)"]
        }

        /// Live QEMU processes of this lab whose command line names `vm`.
        func processes(of vm: String) -> [Int32] {
            ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry -> Int32? in
                guard let pid = Int32(entry), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
                let cmd = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
                guard cmd.contains(root), cmd.contains("guest=\(vm) ") else { return nil }
                let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
                return stat.split(separator: ")").last?.trimmingCharacters(in: .whitespaces).hasPrefix("Z") == true ? nil : pid
            }
        }

        /// The host index of region host `id` (`host-1` → 0).
        func index(_ id: String) -> Int { (Int(id.dropFirst(5)) ?? 1) - 1 }

        deinit {
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry), pid != getpid(), let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
                if String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(root) { kill(pid, SIGKILL) }
            }
            try? FileManager.default.removeItem(atPath: root)
        }
    }

    static let qemu = QEMUDriver(configuration: .init(qmpTimeout: .seconds(30)))

    static func counter(_ lab: Lab, _ vm: String, on i: Int) async throws -> UInt32 {
        try await lab.mark(vm, on: "host-\(i + 1)")
    }

    static func counts(_ lab: Lab, _ vm: String, on i: Int, past value: UInt32) async throws {
        try await lab.countsOn(vm, host: "host-\(i + 1)", past: value, "")
    }

    @Test func aCountingQEMUGuestMovesByOrdersBetweenTwoAgentsQEMUManagers() async throws {
        try #require(Executables.which("qemu-system-x86_64") != nil, "qemu-system-x86_64 is required (never skipped)")
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let lab = try Lab()
        let r = try await lab.region()
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        let vm = "counter-q"
        try await lab.startCountingGuest(vm)

        // The RC-TCB's side: its certificate, an inventory of the two agent hosts, the order driver with evacuation tuning.
        let side = try AgentOrderCrashLiveTests.RCTCBSide(r, vm: vm, inventory: "\(r.dir)/qemu-orders.sqlite", silenceLimit: .seconds(60),
                                                          tuning: .init(maxBandwidthMiBps: 10_240, downtimeLimitMs: 50, autoConverge: true), vmManager: "qemu")
        defer { Task { await side.client.shutdown() } }
        let (client, agents, inventory, orchestrator) = (side.client, side.agents, side.inventory, side.orchestrator)

        // What host-1's agent reports of the QEMU it did not start, with the machine a target needs (the inventory holds
        // it as the RC-TCB adopts it).
        let report: HostVMReport = try await client.get("\(agents["host-1"]!)/v1/vms")
        let reported = try #require(report.vms.first { $0.name == vm })
        #expect(report.vmManager == "qemu" && reported.state == "running" && reported.vcpus == 1 && reported.memoryMiB == 64, "\(report)")
        #expect(report.capacity == HostCapacity(vcpus: ProcessInfo.processInfo.activeProcessorCount,
                                                memoryMiB: Int(ProcessInfo.processInfo.physicalMemory >> 20)), "the host's room: \(report)")
        let machine = try #require(reported.machine)
        #expect(machine.machineType.hasPrefix("pc-i440fx-") && machine.bootImage == lab.image && machine.memoryMiB == 64, "\(machine)")

        // Migrate with the destination paused: host-2's QEMU holds the state, paused, not counting; host-1's sent it.
        let before = try await Self.counter(lab, vm, on: 0)
        let moved = try await orchestrator.migrate(vm: vm, to: "host-2", resume: false)
        #expect(!moved.resumed && moved.final.isCompleted && moved.final.transferredBytes > 0, "\(moved)")
        let onA = Self.qemu.instance(of: vm, on: lab.host(0)), onB = Self.qemu.instance(of: vm, on: lab.host(1))
        #expect(await Self.qemu.state(of: onB) == .paused)
        #expect(await Self.qemu.state(of: onA) == .postMigrate)
        let there: HostVMReport = try await client.get("\(agents["host-2"]!)/v1/vms")
        #expect(there.vms.map(\.state) == ["paused"] && there.vms.first?.machine?.machineType == machine.machineType, "\(there)")
        let frozen = try await Self.counter(lab, vm, on: 1)
        #expect(frozen >= before, "the target holds the state sent from the source")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await Self.counter(lab, vm, on: 1) == frozen, "the paused copy does not run")
        // The order's tuning was QEMU's for this move.
        let qmp = try await QMPClient.connect(path: onA.controlPath, timeout: .seconds(30))
        let parameters = try await qmp.execute("query-migrate-parameters")
        qmp.close()
        #expect(parameters["max-bandwidth"]?.uint64 == 10 << 30 && parameters["downtime-limit"]?.uint64 == 50, "\(parameters)")

        // The same migrate order again is answered from host-1's record: no second move.
        let plan = try #require(try inventory.openMigrations().first { $0.vm == vm })
        let id = "\(side.prefix)-m\(plan.id)-migrate-source"
        let first: MigrationOrderStatus = try await client.get("\(agents["host-1"]!)/v1/orders/\(id)")
        #expect(first.state == .done && first.vmState == "postmigrate" && first.progress?.status == "completed", "\(first)")
        let again: MigrationOrderStatus = try await client.post("\(agents["host-1"]!)/v1/orders", first.order)
        #expect(again == first)
        #expect(lab.processes(of: vm).count == 2, "the sent source and the paused target, one running copy: none")

        // Resume on the RC-TCB's word: host-2 runs it, host-1's copy is stopped, the counter goes on.
        try await orchestrator.resumeMigration(vm: vm)
        #expect(await Self.qemu.state(of: onB) == .running)
        #expect(await Self.qemu.state(of: onA) == .absent)
        #expect(try inventory.vm(named: vm).host == "host-2" && inventory.vm(named: vm).state == .running)
        try await Self.counts(lab, vm, on: 1, past: frozen)
        #expect(lab.processes(of: vm).count == 1)

        // Back towards host-1, and the target fails its re-attestation: the copy there is stopped, host-2's runs on.
        _ = try await orchestrator.migrate(vm: vm, to: "host-1", resume: false)
        #expect(await Self.qemu.state(of: onA) == .paused)
        #expect(await Self.qemu.state(of: onB) == .postMigrate)
        try await orchestrator.abandonMigration(vm: vm, reason: "host-1 failed its re-attestation (test)")
        #expect(await Self.qemu.state(of: onB) == .running)
        #expect(await Self.qemu.state(of: onA) == .absent)
        #expect(try inventory.vm(named: vm).host == "host-2" && inventory.vm(named: vm).state == .running)
        let resumed = try await Self.counter(lab, vm, on: 1)
        try await Self.counts(lab, vm, on: 1, past: resumed)
        #expect(lab.processes(of: vm).count == 1)
        #expect(try inventory.openMigrations().isEmpty)
    }

    /// Through the RC-TCB: it adopts the QEMU guest host-1's agent reports, and when host-1 is compromised it evacuates
    /// it by orders to host-2, re-attesting host-2 before it lets the guest run there.
    @Test func theRCTCBEvacuatesAnAdoptedQEMUGuestByOrders() async throws {
        try #require(Executables.which("qemu-system-x86_64") != nil, "qemu-system-x86_64 is required (never skipped)")
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let lab = try Lab()
        let vm = "evac-q"
        try await lab.startCountingGuest(vm)
        let r = try await LoopbackRegion.live(hosts: 2, hostKeys: { _, _ in ", migrations: agent" }, agentKeys: lab.agentKeys)
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        let inventory = try VMInventory(path: "\(r.rctcbDir)/vms.sqlite")
        try await waitUntilAsync("the RC-TCB adopts what host-1 reports", seconds: 120) { (try? inventory.vm(named: vm))?.host == "host-1" }
        let before = try await lab.mark(vm, on: "host-1")

        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
        try await r.wait("host-1 evacuated", seconds: 240) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
        #expect(try inventory.vm(named: vm).host == "host-2" && inventory.vm(named: vm).state == .running)
        #expect(try await lab.copies(vm) == ["host-2": "running"])
        let steps = try r.store().events(since: 0, limit: 10_000).filter { ($0.detail ?? "").hasPrefix(vm) && $0.kind.hasPrefix("evacuation.") }.map(\.kind)
        let gate = ["evacuation.target-challenged", "evacuation.migrated", "evacuation.target-reattested", "evacuation.resumed"]
        let positions = gate.compactMap { steps.firstIndex(of: $0) }
        #expect(positions.count == gate.count && positions == positions.sorted(), "\(steps)")
        try await lab.countsOn(vm, host: "host-2", past: before, "after the evacuation")
        #expect(lab.processes(of: vm).count == 1)
    }
}


extension QEMUAgentOrderLiveTests.Lab: OrderCrashLab {
    var kind: String { "qemu" }
    func region() async throws -> LoopbackRegion { try await LoopbackRegion.live(hosts: 2, agentKeys: agentKeys) }

    /// Launches the counting guest (64 MiB) in host-1's VM directory, as `smig-attest vm start` does, and waits until it counts.
    func startCountingGuest(_ vm: String) async throws {
        _ = try await QEMUAgentOrderLiveTests.qemu.start(VMDescription(name: vm, memoryMiB: 64, bootImage: image), on: host(0))
        try await countsOn(vm, host: "host-1", past: try await mark(vm, on: "host-1"), "the guest starts")
    }

    func copies(_ vm: String) async throws -> [String: String] {
        var out: [String: String] = [:]
        for i in ranges.indices {
            let state = await QEMUAgentOrderLiveTests.qemu.state(of: QEMUAgentOrderLiveTests.qemu.instance(of: vm, on: host(i)))
            if state.hasProcess { out["host-\(i + 1)"] = "\(state)" }
        }
        return out
    }

    /// The guest's counter in its memory: a guest that booted again would count from 0.
    func mark(_ vm: String, on host: String) async throws -> UInt32 {
        let qemu = QEMUAgentOrderLiveTests.qemu
        return try await qemu.readGuestWord(qemu.instance(of: vm, on: self.host(index(host))), physicalAddress: TestGuest.counterAddress)
    }

    func countsOn(_ vm: String, host: String, past value: UInt32, _ context: String) async throws {
        try await waitUntilAsync("\(context): \(vm) counts past \(value) on \(host)", seconds: 120) { try await mark(vm, on: host) > value }
    }
}
