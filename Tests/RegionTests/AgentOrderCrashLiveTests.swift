#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NamespaceLab
import Migration
import NIOCore
import RegionProtocol
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

/// An order-driven move of a libvirt domain (two libvirt hosts in namespaces, their real agents) with one party SIGKILLed
/// right after each step the orchestrator commits: the RC-TCB (the test tool `smig-migration-crash --agents`, then
/// recovery as the RC-TCB runs it after a restart), the source host's agent or the target host's agent (killed and
/// started again at once; the RC-TCB side rides it out by asking again by order id). Every time exactly one running copy
/// is left, the inventory says where, no migration stays open, and the guest keeps counting from where it was.
@Suite("Order-driven moves survive a SIGKILL of any party", .serialized)
struct AgentOrderCrashLiveTests {
    enum Party: String, CaseIterable, CustomStringConvertible {
        case rctcb, sourceAgent = "source-agent", targetAgent = "target-agent"
        var description: String { rawValue }
    }

    /// The VM managers the agents may have.
    enum Manager: String, CaseIterable, CustomStringConvertible {
        case libvirt, qemu
        var description: String { rawValue }
    }

    @Test("SIGKILL after every step, one running copy where the inventory says", arguments: Manager.allCases, Party.allCases)
    func sigkillAfterEveryStep(_ manager: Manager, _ party: Party) async throws {
        switch manager {
        case .libvirt: try await LibvirtLab.run { lab in try await Self.sigkillAfterEveryStep(party, LibvirtCopies(lab: lab)) }
        case .qemu:
            await LiveScenarioSlots.shared.acquire()
            defer { LiveScenarioSlots.shared.releaseLater() }
            try await Self.sigkillAfterEveryStep(party, QEMUAgentOrderLiveTests.Lab())
        }
    }

    /// Waits until `id`'s agent reports its VMs; if it does not, the failure says what the last call got and how the
    /// agent's log ends.
    static func untilAnswering(_ id: String, _ driver: AgentOrderDriver, _ r: LoopbackRegion) async throws {
        var last = "no call made"
        do {
            try await waitUntilAsync("\(id)'s agent answers", seconds: 120) {
                do {
                    _ = try await driver.report(id)
                    return true
                } catch {
                    last = "\(error)"
                    return false
                }
            }
        } catch {
            throw DaemonFailure(description: "\(error); the last call: \(last); the agent's log ends: \(r.agentOutput(id).suffix(3000))")
        }
    }

    static func sigkillAfterEveryStep(_ party: Party, _ lab: some OrderCrashLab) async throws {
        let r = try await lab.region()
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        let vm = "crash-\(party.rawValue)"
        try await lab.startCountingGuest(vm)

        let hosts = ["host-1", "host-2"]
        let inventoryFile = "\(r.dir)/crash-\(party.rawValue).sqlite"
        let side = try RCTCBSide(r, vm: vm, inventory: inventoryFile, silenceLimit: .seconds(180), vmManager: lab.kind)
        defer { Task { await side.client.shutdown() } }
        let (client, agents, inventory, driver, orchestrator, prefix) = (side.client, side.agents, side.inventory, side.driver, side.orchestrator, side.prefix)

        for step in MigrationStep.allCases {
            let home = try inventory.vm(named: vm).host
            let away = hosts.first { $0 != home }!
            let before = try await lab.mark(vm, on: home)
            let context = "\(lab.kind): \(party) killed after \(step.rawValue), moving \(home) → \(away)"
            switch party {
            case .rctcb:
                let tool = URL(fileURLWithPath: try TestBinaries.smigAttest()).deletingLastPathComponent().appendingPathComponent("smig-migration-crash").path
                let list = hosts.map { "\($0)=\(agents[$0]!)" }.joined(separator: ",")
                let crashed = try await Spawn.run(tool, ["--agents", inventoryFile, r.rctcbDir, list, vm, away, step.rawValue], seconds: 300)
                #expect(crashed.status == 128 + SIGKILL, "\(context): \(crashed.output)")
            case .sourceAgent, .targetAgent:
                let killed = hosts.firstIndex(of: party == .sourceAgent ? home : away)!
                do {
                    _ = try await orchestrator.migrate(vm: vm, to: away, afterStep: { done in
                        guard done == step else { return }
                        r.stopAgent(killed, signal: SIGKILL)
                        try? r.startAgent(killed)
                    })
                } catch {
                    // An agent back within the silence limit is waited for: the move goes on. Only a source agent
                    // killed while it carried the transfer out may cut it (libvirt's job is cancelled; the VM stays).
                    if !(party == .sourceAgent && step == .transferStarted) {
                        Issue.record("\(context): the move failed: \(error)")
                    }
                }
            }
            // Never two running copies, whatever the moment.
            let running = try await lab.copies(vm).filter { $0.value == "running" }
            #expect(running.count <= 1, "\(context): \(running)")

            // The agents answer again; recovery, as the RC-TCB runs it after a restart, settles what is open.
            for id in hosts { try await Self.untilAnswering(id, driver, r) }
            let plan = try inventory.migrations(vm: vm).max { $0.id < $1.id }
            let actions = try await Recovery(orchestrator: orchestrator).run()
            #expect(Recovery.succeeded(actions), "\(context): \(actions)")
            if party != .rctcb {
                #expect(actions.allSatisfy { $0.action == "verified" }, "\(context): the move needed no repair: \(actions)")
            }
            #expect(try inventory.openMigrations().isEmpty, "\(context)")

            // Exactly one running copy, where the inventory says; none elsewhere.
            let record = try inventory.vm(named: vm)
            #expect(record.state == .running, "\(context): \(record.state)")
            let copies = try await lab.copies(vm)
            #expect(copies == [record.host: "running"], "\(context): inventory says \(record.host), the hosts have \(copies)")
            // An RC-TCB that died before its migrate order moved nothing; once the target ran, it keeps the VM.
            if party == .rctcb, step < .targetPrepared { #expect(record.host == home, "\(context)") }
            if step >= .targetResumed { #expect(record.host == away, "\(context)") }

            // The migrate order was followed to its end by its id, never sent again under another.
            if party == .rctcb, step >= .transferStarted, let plan {
                let id = "\(prefix)-m\(plan.id)-migrate-source"
                let order: MigrationOrderStatus = try await client.get("\(agents[home]!)/v1/orders/\(id)")
                #expect(order.state == .done, "\(context): \(order)")
                let journal = try FileManager.default.contentsOfDirectory(atPath: "\(r.hosts[hosts.firstIndex(of: home)!].stateDirectory)/orders")
                #expect(journal.filter { $0.contains("-m\(plan.id)-migrate-") } == ["\(id).json"], "\(context): \(journal)")
            }

            try await lab.countsOn(vm, host: record.host, past: before, context)
        }
    }

    /// The real RC-TCB (`smig-rctcb-hooked`, SIGKILLed right after the step) evacuating an adopted libvirt domain by
    /// orders: restarted plainly, it recovers the open move by asking the agents (gated: the target is attested before
    /// the VM runs there) and finishes the evacuation; the domain runs once, on host-2, counting on.
    @Test(arguments: ["transfer-started", "evacuation.migrated", "target-resumed"])
    func theRCTCBKilledDuringAnEvacuationByOrdersFinishesItAfterARestart(step: String) async throws {
        try await LibvirtLab.run { lab in
            let vm = "evac-crash"
            let hosts = LibvirtCopies(lab: lab)
            try await lab.defineCountingGuest(vm, on: lab.a)
            let r = try await AgentOrderLiveTests.region(lab, policyHostKeys: ", migrations: agent")
            r.stopRCTCB(0)
            try r.startRCTCB(0, executable: [try TestBinaries.rctcbHooked()] + ["--crash-after", step])
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            let inventory = try VMInventory(path: "\(r.rctcbDir)/vms.sqlite")
            try await waitUntilAsync("the RC-TCB adopts what host-1 reports", seconds: 120) { (try? inventory.vm(named: vm))?.host == "host-1" }
            try await waitUntilAsync("the guest counts on A", seconds: 120) { lab.ticks(of: vm).latest >= 2 }
            let before = try await hosts.mark(vm, on: "host-1")

            try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
            let server = try #require(r.rctcbProcess(0))
            try await waitUntilAsync("the RC-TCB to die after \(step)", seconds: 240) { !server.isRunning }
            #expect(server.terminationReason == .uncaughtSignal && server.terminationStatus == SIGKILL)
            #expect(try await Self.copies(lab, vm).filter { $0.value == "running" }.count <= 1)

            try r.startRCTCB(0)
            try await r.wait("host-1 evacuated after the restart", seconds: 240) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
            try await waitUntilAsync("\(vm) settles on host-2", seconds: 120) { (try await Self.copies(lab, vm)) == ["host-2": "running"] }
            #expect(try inventory.vm(named: vm).host == "host-2" && inventory.vm(named: vm).state == .running)
            #expect(try inventory.openMigrations().isEmpty)
            try await hosts.countsOn(vm, host: "host-2", past: before, "after the restart")
        }
    }

    /// The RC-TCB side gives up on a source agent that stays silent: a clear `agent-silent` after the configured
    /// limit, nothing destroyed, and once the agent is back, recovery leaves one running copy.
    @Test func aSilentSourceAgentIsAClearErrorAfterTheLimit() async throws {
        try await LibvirtLab.run { lab in
            let r = try await AgentOrderLiveTests.region(lab)
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            let vm = "silent-source", hosts = LibvirtCopies(lab: lab)
            try await hosts.startCountingGuest(vm)
            let side = try RCTCBSide(r, vm: vm, inventory: "\(r.dir)/silent.sqlite", silenceLimit: .seconds(3))
            defer { Task { await side.client.shutdown() } }
            let (inventory, driver, orchestrator) = (side.inventory, side.driver, side.orchestrator)
            let before = try await hosts.mark(vm, on: "host-1")

            // host-1's agent dies as the transfer starts and stays away.
            let failure = await #expect(throws: MigrationError.self) {
                _ = try await orchestrator.migrate(vm: vm, to: "host-2", afterStep: { done in
                    if done == .transferStarted { r.stopAgent(0, signal: SIGKILL) }
                })
            }
            #expect(failure?.code == .agentSilent, "\(String(describing: failure))")
            #expect(failure?.reason.contains("did not answer for 3") == true, "\(String(describing: failure))")
            // Unknown what the source did: the move stays open for recovery; nothing was destroyed.
            #expect(try inventory.openMigrations().map(\.vm) == [vm])
            let left = try await Self.copies(lab, vm)
            #expect(!left.isEmpty && left.filter { $0.value == "running" }.count <= 1, "\(left)")

            try r.startAgent(0)
            try await Self.untilAnswering("host-1", driver, r)
            let actions = try await Recovery(orchestrator: orchestrator).run()
            #expect(Recovery.succeeded(actions), "\(actions)")
            let record = try inventory.vm(named: vm)
            #expect(try await Self.copies(lab, vm) == [record.host: "running"] && record.state == .running)
            try await hosts.countsOn(vm, host: record.host, past: before, "after recovery")
        }
    }

    /// The RC-TCB's side of the order path, in the test process: its certificate, an inventory of the two agent hosts
    /// holding `vm` (64 MiB, one vCPU, adopted from a `vmManager` host) on host-1, the order driver with `tuning` and the
    /// orchestrator.
    struct RCTCBSide {
        let client: RegionClient
        let agents: [String: String]
        let inventory: VMInventory
        let prefix: String
        let driver: AgentOrderDriver
        let orchestrator: MigrationOrchestrator

        init(_ r: LoopbackRegion, vm: String, inventory path: String, silenceLimit: Duration = .seconds(60),
             tuning: MigrationOrder.Tuning? = nil, transferTimeLimit: Duration? = nil, vmManager: String = "libvirt") throws {
            client = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.rctcbDir)/rctcb.pem",
                                      key: "\(r.rctcbDir)/rctcb.key", peer: .agent, timeout: .seconds(60))
            agents = ["host-1": "https://127.0.0.1:\(r.hosts[0].agentPort)", "host-2": "https://127.0.0.1:\(r.hosts[1].agentPort)"]
            inventory = try VMInventory(path: path)
            for (i, id) in ["host-1", "host-2"].enumerated() {
                try inventory.addHost(MigrationHost(name: id, kind: .agent, address: "127.0.0.1", portLow: 1024, portHigh: 1025,
                                                    stateDirectory: "\(r.dir)/hosts-\(i)"))
            }
            prefix = try AgentOrderDriver.orderPrefix(directory: r.rctcbDir)
            driver = AgentOrderDriver(client: client, agents: agents, inventory: inventory, prefix: prefix, tuning: tuning, silenceLimit: silenceLimit)
            orchestrator = MigrationOrchestrator(inventory: inventory, agent: driver, transferTimeLimit: transferTimeLimit)
            try inventory.addVM(VMDescription(name: vm, machineType: vmManager, memoryMiB: 64, cpus: 1, bootImage: "/"), host: "host-1", state: .running)
        }
    }

    /// The copies of `vm` on the lab's hosts that libvirt knows, by region host id, with their state.
    static func copies(_ lab: LibvirtLab, _ vm: String) async throws -> [String: String] {
        var out: [String: String] = [:]
        for (id, host) in [("host-1", lab.a), ("host-2", lab.b)] {
            if let state = try await AgentOrderLiveTests.domains(lab, host)[vm] { out[id] = state }
        }
        return out
    }
}

/// What the crash test needs of the hosts whichever VM manager their agents have: the region, a counting guest on
/// host-1 that no agent started, the copies the hosts hold, and a counter that shows the guest never started again.
protocol OrderCrashLab: Sendable {
    /// `libvirt` or `qemu`: the agents' `vmManager`.
    var kind: String { get }
    func region() async throws -> LoopbackRegion
    /// Starts the counting guest `vm` on host-1 and waits until it counts.
    func startCountingGuest(_ vm: String) async throws
    /// The copies of `vm`, by region host id, with their state words (`running`, `paused`, ...).
    func copies(_ vm: String) async throws -> [String: String]
    /// Where `vm`'s count stands now, read on `host` where it runs.
    func mark(_ vm: String, on host: String) async throws -> UInt32
    /// Waits until `vm` counts on `host` past `value` (it went on, never booted again).
    func countsOn(_ vm: String, host: String, past value: UInt32, _ context: String) async throws
}

/// The two-host libvirt lab: the guest's ticks on its serial log (one boot, no tick twice).
struct LibvirtCopies: OrderCrashLab {
    let lab: LibvirtLab
    var kind: String { "libvirt" }
    func region() async throws -> LoopbackRegion { try await AgentOrderLiveTests.region(lab) }

    func startCountingGuest(_ vm: String) async throws {
        try await lab.defineCountingGuest(vm, on: lab.a)
        try await waitUntilAsync("the guest counts on A", seconds: 120) { lab.ticks(of: vm).latest >= 2 }
    }

    func copies(_ vm: String) async throws -> [String: String] { try await AgentOrderCrashLiveTests.copies(lab, vm) }
    func mark(_ vm: String, on host: String) async throws -> UInt32 { lab.ticks(of: vm).latest }

    func countsOn(_ vm: String, host: String, past value: UInt32, _ context: String) async throws {
        try await AgentOrderLiveTests.ticksGrow(lab, vm, past: value)
        let ticks = lab.ticks(of: vm)
        #expect(ticks.boots == 1 && ticks.duplicates == 0 && ticks.memoryErrors == 0, "\(context): \(ticks)")
    }
}
