import Foundation
import Migration
import NamespaceLab
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

/// The region on separate hosts: three libvirt hosts, each its own network, mount and UTS namespace with its own
/// address, libvirtd, swtpm and agent (NamespaceLab, RegionLab's ``NamespaceRegion``); the RC-TCB outside them. A
/// libvirt domain that smig-attest did not start — defined and started with virsh inside host A's namespaces — is
/// reported by A's agent and adopted; A is compromised; the RC-TCB evacuates the domain by orders to the agents to
/// a re-attested host in another namespace, the migration stream crossing the lab's links. The guest keeps
/// counting, and exactly one copy runs among the three hosts.
@Suite("Evacuation across namespaced libvirt hosts", .serialized)
struct NamespaceEvacuationLiveTests {
    /// Bytes host `h` received on its link so far (`ip -s -j link` inside its network namespace).
    static func receivedBytes(_ h: LibvirtHosts.Host) async throws -> Int {
        let enter = try h.enter()
        let json = try await LabSpawn.check("ip link statistics", enter[0], Array(enter.dropFirst()) + ["/usr/sbin/ip", "-s", "-j", "link", "show", "eth0"])
        struct Link: Decodable { struct Stats: Decodable { struct Direction: Decodable { var bytes: Int }; var rx: Direction }; var stats64: Stats }
        return try #require(try JSONDecoder().decode([Link].self, from: Data(json.utf8)).first).stats64.rx.bytes
    }

    @Test func aDomainSmigAttestDidNotStartLeavesACompromisedHostForAnotherNamespaceAndKeepsCounting() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let region = try NamespaceRegion(.init(binary: try TestBinaries.smigAttest()))
        defer { region.stop() }
        try await region.start()
        let lab = try #require(region.lab)
        #expect(lab.hosts.count == 3 && Set(lab.hosts.map(\.address)).count == 3)

        let vm = "counter-ns"
        try await lab.defineCountingGuest(vm, on: lab.hosts[0])
        let inventory = try VMInventory(path: "\(region.rctcbDir)/vms.sqlite")
        try await waitUntilAsync("the RC-TCB adopts what host-1 reports", seconds: 120) { (try? inventory.vm(named: vm))?.host == "host-1" }
        try await waitUntilAsync("the guest counts on A", seconds: 120) { lab.ticks(of: vm).latest >= 2 }
        let received = [try await Self.receivedBytes(lab.hosts[1]), try await Self.receivedBytes(lab.hosts[2])]
        let before = lab.ticks(of: vm).latest

        try region.compromise(0)
        let store = try region.store()
        try await waitUntilAsync("host-1 evacuated", seconds: 240) { try store.row("host-1")?.state == .evacuated }

        // One copy, running, where the inventory says: on B or C, none on A.
        let placed = try inventory.vm(named: vm)
        let target = placed.host
        #expect(["host-2", "host-3"].contains(target) && placed.state == .running, "\(target)")
        var running: [String] = []
        for h in lab.hosts {
            let domains = try await lab.domains(h)
            if domains[vm] == "running" { running.append(h.name) }
            if h.name == "A" { #expect(domains[vm] == nil, "A still has \(vm): \(domains)") }
        }
        let index = try #require(region.hosts.firstIndex { $0.id == target })
        #expect(running == [lab.hosts[index].name], "running on \(running)")

        // The order path and its gate: the target challenged, the move, the target re-attested, then the resume.
        let steps = try store.events(since: 0, limit: 10_000).filter { ($0.detail ?? "").hasPrefix(vm) && $0.kind.hasPrefix("evacuation.") }.map(\.kind)
        let gate = ["evacuation.target-challenged", "evacuation.migrated", "evacuation.target-reattested", "evacuation.resumed"]
        let positions = gate.compactMap { steps.firstIndex(of: $0) }
        #expect(positions.count == gate.count && positions == positions.sorted(), "\(steps)")

        // The guest's memory (60 MiB written by the guest) went over the target's link, not a socket on one host.
        let after = try await Self.receivedBytes(lab.hosts[index])
        #expect(after - received[index - 1] > 32 << 20, "host \(lab.hosts[index].name) received \(after - received[index - 1]) bytes")

        try await waitUntilAsync("\(vm) counts past tick \(before)", seconds: 120) { lab.ticks(of: vm).latest > before + 2 }
        let ticks = lab.ticks(of: vm)
        #expect(ticks.boots == 1 && ticks.duplicates == 0 && ticks.memoryErrors == 0, "\(ticks)")
    }
}
