import Foundation
import NamespaceLab
import Migration
import NIOCore
import RegionProtocol
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

/// Migration orders through the agents, on two libvirt hosts (each its own network, mount and UTS namespace with its
/// own libvirtd; the migration stream crosses the lab's veth): a domain defined directly in libvirt — smig-attest never
/// started it — moves from host A to host B by orders to the hosts' real agents (`agent run` processes with the
/// libvirt VM manager, enrolled through their swtpm), its destination paused until the RC-TCB side says resume.
@Suite("Migration orders through the agents, on two libvirt hosts", .serialized)
struct AgentOrderLiveTests {
    /// A region of two hosts whose agents manage the lab's two libvirt daemons (host-1 ↔ A, host-2 ↔ B).
    static func region(_ lab: LibvirtLab, policyHostKeys: String = "") async throws -> LoopbackRegion {
        try await LoopbackRegion.live(hosts: 2, hostKeys: { _, _ in policyHostKeys }, agentKeys: { i in
            let host = i == 0 ? lab.a : lab.b
            return ["vmManager": "libvirt", "vmManagerURI": host.localURI, "migrationAddress": host.tcpURI]
        })
    }

    /// The domains of `host` with their state, from one `virsh list --all` (one snapshot: a domain that a migration
    /// undefines meanwhile cannot vanish between listing it and asking its state).
    static func domains(_ lab: LibvirtLab, _ host: LibvirtLab.Host) async throws -> [String: String] {
        var out: [String: String] = [:]
        // " Id   Name        State" / "----" / " 3    counter-1   running" / " -    other       shut off"
        for line in try await lab.virsh(host, "list", "--all").split(separator: "\n").dropFirst(2) {
            let words = line.split(separator: " ", omittingEmptySubsequences: true)
            guard words.count >= 3 else { continue }
            out[String(words[1])] = words.dropFirst(2).joined(separator: " ")
        }
        return out
    }

    static func ticksGrow(_ lab: LibvirtLab, _ vm: String, past tick: UInt32) async throws {
        try await waitUntilAsync("\(vm) counts past tick \(tick)", seconds: 120) { lab.ticks(of: vm).latest > tick + 2 }
    }

    @Test func aLibvirtDomainMovesByOrdersPausedUntilResumeAndOnlyTheRCTCBMayOrder() async throws {
        try await LibvirtLab.run { lab in
            let r = try await Self.region(lab)
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            let vm = "counter-1"
            try await lab.defineCountingGuest(vm, on: lab.a)
            try await waitUntilAsync("the guest counts on A", seconds: 120) { lab.ticks(of: vm).latest >= 2 }
            let agents = ["host-1": "https://127.0.0.1:\(r.hosts[0].agentPort)", "host-2": "https://127.0.0.1:\(r.hosts[1].agentPort)"]

            // The attack first: host-2's agent certificate is valid in the region (a ring peer's), yet host-1's agent
            // takes no order from it and reports nothing to it; nothing is journaled, the domain stays where it runs.
            let peer = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.hosts[1].stateDirectory)/tls.pem",
                                        key: "\(r.hosts[1].stateDirectory)/tls.key", peer: .agent, timeout: .seconds(60))
            let stolen = MigrationOrder(orderId: "evil-1", host: "host-1", vm: vm, role: .source, step: .migrate,
                                        target: .init(host: "host-2", migrationAddress: lab.b.tcpURI))
            let refused = await #expect(throws: RegionClient.Failure.self) {
                let _: MigrationOrderStatus = try await peer.post("\(agents["host-1"]!)/v1/orders", stolen)
            }
            #expect(refused?.code == "order.forbidden" && refused?.status == 403, "\(String(describing: refused))")
            let notReported = await #expect(throws: RegionClient.Failure.self) {
                let _: HostVMReport = try await peer.get("\(agents["host-1"]!)/v1/vms")
            }
            #expect(notReported?.code == "order.forbidden")
            await peer.shutdown()
            #expect(((try? FileManager.default.contentsOfDirectory(atPath: "\(r.hosts[0].stateDirectory)/orders")) ?? []).isEmpty)
            #expect(try await Self.domains(lab, lab.a) == [vm: "running"])

            // The RC-TCB's side: its certificate, an inventory of two agent hosts, the orchestrator with the order driver.
            let client = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.rctcbDir)/rctcb.pem",
                                          key: "\(r.rctcbDir)/rctcb.key", peer: .agent, timeout: .seconds(60))
            let inventory = try VMInventory(path: "\(r.dir)/orders-test.sqlite")
            for (i, id) in ["host-1", "host-2"].enumerated() {
                try inventory.addHost(MigrationHost(name: id, kind: .agent, address: "127.0.0.1", portLow: 1024, portHigh: 1025,
                                                    stateDirectory: "\(r.dir)/hosts-\(i)"))
            }
            let driver = AgentOrderDriver(client: client, agents: agents, inventory: inventory, prefix: try AgentOrderDriver.orderPrefix(directory: r.dir),
                                          tuning: .init(maxBandwidthMiBps: 10_240, downtimeLimitMs: 50, autoConverge: true))
            let orchestrator = MigrationOrchestrator(inventory: inventory, agent: driver)
            // What the agent reports is what the inventory takes.
            let report: HostVMReport = try await client.get("\(agents["host-1"]!)/v1/vms")
            let reported = try #require(report.vms.first { $0.name == vm })
            #expect(report.vmManager == "libvirt" && reported.state == "running" && reported.vcpus == 1 && reported.memoryMiB == 64, "\(report)")
            #expect((report.capacity?.vcpus ?? 0) >= 1 && (report.capacity?.memoryMiB ?? 0) > 64, "the host's room: \(report)")
            try inventory.addVM(VMDescription(name: vm, machineType: "libvirt", memoryMiB: reported.memoryMiB, cpus: reported.vcpus, bootImage: "/"),
                                host: "host-1", state: .running)

            // Migrate with the destination paused: B holds the only copy, paused; A has none.
            let before = lab.ticks(of: vm).latest
            let moved = try await orchestrator.migrate(vm: vm, to: "host-2", resume: false)
            #expect(!moved.resumed && moved.final.isCompleted, "\(moved)")
            #expect(try await Self.domains(lab, lab.b) == [vm: "paused"])
            #expect(try await Self.domains(lab, lab.a).isEmpty)
            let plan = try #require(try inventory.openMigrations().first { $0.vm == vm })
            #expect(plan.step == .transferred)

            // The same order again — as after an RC-TCB restart — is answered from the agent's record: no second move.
            let prefix = try AgentOrderDriver.orderPrefix(directory: r.dir)
            let id = "\(prefix)-m\(plan.id)-migrate-source"
            let first: MigrationOrderStatus = try await client.get("\(agents["host-1"]!)/v1/orders/\(id)")
            #expect(first.state == .done && first.vmState == "absent", "\(first)")
            let again: MigrationOrderStatus = try await client.post("\(agents["host-1"]!)/v1/orders", first.order)
            #expect(again == first)
            #expect(try await Self.domains(lab, lab.b) == [vm: "paused"])
            // The journal survives the agent: a restarted agent answers for the order it took.
            r.stopAgent(0)
            try r.startAgent(0)
            try await waitUntilAsync("host-1's restarted agent answers from its journal", seconds: 120) {
                let answer: MigrationOrderStatus? = try? await client.get("\(agents["host-1"]!)/v1/orders/\(id)")
                return answer == first
            }

            // The only copy is never stopped: abandoning here would leave the VM paused on B, not destroyed.
            let onB = driver.instance(of: vm, on: try inventory.host(named: "host-2"), port: plan.port)
            let spared = await #expect(throws: MigrationError.self) { try await driver.stop(onB) }
            #expect(spared?.code == .wrongState)
            #expect(try await Self.domains(lab, lab.b) == [vm: "paused"])

            // Resume on the RC-TCB's word: B runs it, one copy, one boot, the counter goes on from where it was.
            try await orchestrator.resumeMigration(vm: vm)
            #expect(try await Self.domains(lab, lab.b) == [vm: "running"])
            #expect(try await Self.domains(lab, lab.a).isEmpty)
            #expect(try inventory.vm(named: vm).host == "host-2" && inventory.vm(named: vm).state == .running)
            try await Self.ticksGrow(lab, vm, past: before)
            let ticks = lab.ticks(of: vm)
            #expect(ticks.boots == 1 && ticks.duplicates == 0 && ticks.memoryErrors == 0, "\(ticks)")
            await client.shutdown()
        }
    }

    /// Through the RC-TCB: it adopts the domain host-1's agent reports, and when host-1 is compromised it evacuates the
    /// domain by orders to host-2, re-attesting host-2 before it lets the domain run there.
    @Test func theRCTCBEvacuatesAnAdoptedLibvirtDomainByOrders() async throws {
        try await LibvirtLab.run { lab in
            let vm = "counter-2"
            try await lab.defineCountingGuest(vm, on: lab.a)
            let r = try await Self.region(lab, policyHostKeys: ", migrations: agent")
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            let inventory = try VMInventory(path: "\(r.rctcbDir)/vms.sqlite")
            try await waitUntilAsync("the RC-TCB adopts what host-1 reports", seconds: 120) {
                (try? inventory.vm(named: vm))?.host == "host-1"
            }
            #expect(try r.store().events(since: 0, limit: 10_000).contains { $0.kind == "vm.adopted" && $0.host == "host-1" && $0.evacuation?.vm == vm })
            try await waitUntilAsync("the guest counts on A", seconds: 120) { lab.ticks(of: vm).latest >= 2 }
            let before = lab.ticks(of: vm).latest

            try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
            try await r.wait("host-1 evacuated", seconds: 240) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
            #expect(try inventory.vm(named: vm).host == "host-2" && inventory.vm(named: vm).state == .running)
            #expect(try await Self.domains(lab, lab.b) == [vm: "running"])
            #expect(try await Self.domains(lab, lab.a).isEmpty)
            let steps = try r.store().events(since: 0, limit: 10_000).filter { $0.evacuation?.vm == vm && $0.evacuationStep != nil }.map(\.kind)
            let gate = ["evacuation.target-challenged", "evacuation.migrated", "evacuation.target-reattested", "evacuation.resumed"]
            let positions = gate.compactMap { steps.firstIndex(of: $0) }
            #expect(positions.count == gate.count && positions == positions.sorted(), "\(steps)")
            try await Self.ticksGrow(lab, vm, past: before)
            let ticks = lab.ticks(of: vm)
            #expect(ticks.boots == 1 && ticks.duplicates == 0 && ticks.memoryErrors == 0, "\(ticks)")

            // What the emptied, untrusted host-1 reports is not taken: a domain appearing there is not adopted, while
            // those appearing on trusted host-2 are. The second is adopted by a sweep that began after the first was
            // adopted, so after the domain on host-1 was defined.
            try await lab.defineCountingGuest("claimed-1", on: lab.a)
            for name in ["counter-3", "counter-4"] {
                try await lab.defineCountingGuest(name, on: lab.b)
                try await waitUntilAsync("the RC-TCB adopts \(name), which trusted host-2 reports", seconds: 120) {
                    (try? inventory.vm(named: name))?.host == "host-2"
                }
            }
            #expect((try? inventory.vm(named: "claimed-1")) == nil)
        }
    }
}
