import BuiltInGuests
import Foundation
import Migration
package import RegionTCB

/// The loopback region as the demo's region: QEMU processes stand in for the hypervisors and run the guests.
extension LoopbackRegion: DemoRegion {
    package var hostIDs: [String] { hosts.map(\.id) }

    package func compromiseDescription(_ index: Int) -> String {
        "64 bytes written into its hypervisor's code (QEMU pid \((try? hypervisorPID(index)).map(String.init) ?? "?"))"
    }

    /// Every VM of the inventory: the hosts it runs on (a running QEMU process), and whether its counter grows.
    package func placement(_ states: [String: HostState]) async throws -> [DemoScenario.Placement] {
        var placement: [DemoScenario.Placement] = []
        let inventory = try inventory()
        let driver = QEMUDriver()
        for vm in try inventory.vms() {
            var copies: [String] = []
            for h in try inventory.hosts() where await driver.state(of: driver.instance(of: vm.name, on: h, port: nil)) == .running {
                copies.append(h.name)
            }
            var grows = false
            if let h = copies.first, let host = try? inventory.host(named: h) {
                let instance = driver.instance(of: vm.name, on: host, port: nil)
                let a = try? await driver.readGuestWord(instance, physicalAddress: TestGuest.counterAddress)
                try await Task.sleep(for: .milliseconds(300))
                let b = try? await driver.readGuestWord(instance, physicalAddress: TestGuest.counterAddress)
                grows = (a ?? 0) < (b ?? 0)
            }
            placement.append(DemoScenario.Placement(vm: vm.name, host: copies.first, copies: copies.count,
                                                    hostState: copies.first.flatMap { states[$0]?.rawValue }, counterGrows: grows))
        }
        return placement
    }
}
