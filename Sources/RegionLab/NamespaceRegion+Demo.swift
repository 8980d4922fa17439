import Foundation
package import Migration
import NamespaceLab
package import RegionTCB

/// The namespace region as the demo's region: libvirt domains on separate hosts, moved by the agents.
extension NamespaceRegion: DemoRegion {
    package var hostIDs: [String] { hosts.map(\.id) }

    package func compromiseDescription(_ index: Int) -> String {
        "its hypervisor (\(hosts[index].hypervisor), measured by its agent inside host \(hosts[index].lab.name)'s namespaces) overwritten"
    }

    /// The RC-TCB's VM inventory (what it adopted from the agents' reports).
    package func inventory() throws -> VMInventory { try VMInventory(path: "\(rctcbDir)/vms.sqlite") }

    package func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) async throws {
        try await processes.waitUntil(what, seconds: seconds, condition)
    }

    /// Waits until the RC-TCB has adopted `count` VMs.
    package func waitUntilAdopted(count: Int) async throws {
        let inventory = try inventory()
        try await processes.waitUntil("the RC-TCB adopts \(count) guests from the agents' reports", seconds: 180) { try inventory.vms().count >= count }
    }

    /// Every VM of the inventory: the hosts whose libvirtd runs it (`virsh list` in each host's namespaces), and
    /// whether its counter (the ticks on its serial log) grows.
    package func placement(_ states: [String: HostState]) async throws -> [DemoScenario.Placement] {
        guard let lab else { return [] }
        var domains: [String: [String: String]] = [:]
        for h in hosts { domains[h.id] = try await lab.domains(h.lab) }
        let names = try inventory().vms().map(\.name)
        let before = Dictionary(uniqueKeysWithValues: names.map { ($0, lab.ticks(of: $0).latest) })
        try await Task.sleep(for: .milliseconds(2500))  // the guest prints a tick a second
        return names.map { vm in
            let copies = hosts.filter { domains[$0.id]?[vm] == "running" }.map(\.id)
            return DemoScenario.Placement(vm: vm, host: copies.first, copies: copies.count, hostState: copies.first.flatMap { states[$0]?.rawValue },
                                          counterGrows: lab.ticks(of: vm).latest > before[vm] ?? 0)
        }
    }
}
