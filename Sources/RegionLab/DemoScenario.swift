import BuiltInGuests
package import Foundation
import Migration
package import RegionTCB

/// The scenario of `smig-attest demo`: a ``LoopbackRegion`` comes up, one hypervisor is compromised, the RC-TCB's
/// audit trail is followed until the host is evacuated, and the outcome is judged: the demo passes when the
/// compromised host is `evacuated` and every VM runs exactly once, on a trusted host, with its counter growing.
package final class DemoScenario: Sendable {
    /// One audit event of the response, in milliseconds after the compromise.
    package struct Step: Codable, Sendable {
        package var ms: Int
        package var host: String?
        package var kind: String
        package var change: String?
        package var code: String?
        package var detail: String?
        /// An evacuation step's VM, source, target and outcome, as the evacuator stored them with the event.
        package var evacuation: EvacuationFields?
    }

    /// Where a VM runs after the response.
    package struct Placement: Codable, Sendable {
        package var vm: String
        package var host: String?
        package var copies: Int
        package var hostState: String?
        package var counterGrows: Bool
    }

    package struct Result: Codable, Sendable {
        package var compromised: String
        package var compromisedState: String
        package var timeline: [Step]
        package var placement: [Placement]
        package var ok: Bool
    }

    package let region: LoopbackRegion

    /// `say` hears the region's progress while it comes up.
    package init(hosts: Int, vmsPerHost: Int, vmMemoryMiB: Int, say: @escaping @Sendable (String) -> Void) throws {
        var options = LoopbackRegion.Options(binary: OwnExecutable.path)
        options.hosts = hosts
        options.vmsPerHost = vmsPerHost
        options.vmMemoryMiB = vmMemoryMiB
        region = try LoopbackRegion(options, say: say)
    }

    /// Starts the region; returns the IVT once every host is enrolled and trusted.
    package func start() async throws -> [IVTRow] {
        try await region.start()
        return try region.store().rows()
    }

    /// Stops everything the region started.
    package func stop() { region.stop() }

    /// The host compromised when none is named: the middle one.
    package var defaultVictim: String { region.hosts[region.hosts.count / 2].id }

    /// The index of host `id` in the region, nil when it has no such host.
    package func index(of id: String) -> Int? { region.hosts.firstIndex { $0.id == id } }

    /// Writes into the hypervisor of host `index`, follows the response (each step to `onStep` as it is written)
    /// until the host is evacuated or 90 s have passed, then judges where the VMs run. Returns the result and the
    /// IVT after the response.
    package func respond(compromising index: Int, onStep: (Step) -> Void) async throws -> (Result, [IVTRow]) {
        let victim = region.hosts[index].id
        let store = try region.store()
        let since = try store.lastEventSeq()
        let t0 = try region.compromise(index)
        var timeline: [Step] = []
        var seen = since
        var finished = false
        let deadline = Date().addingTimeInterval(90)
        while Date() < deadline {
            for e in try store.events(since: seen) {
                seen = e.seq
                guard e.kind == "state" || e.kind.hasPrefix("evacuation.") || e.kind.hasPrefix("recovery.") else { continue }
                let step = Step(ms: Int(e.at.timeIntervalSince(t0) * 1000), host: e.host, kind: e.kind,
                                change: e.oldState.map { "\($0) → \(e.newState ?? "?")" }, code: e.code, detail: e.detail,
                                evacuation: e.evacuation)
                timeline.append(step)
                onStep(step)
                if e.evacuationStep == .finished, e.evacuation?.source == victim { finished = true }
            }
            // The host turns `evacuated` just before the evacuation's closing event is written: wait for both.
            if finished, try store.row(victim)?.state == .evacuated { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let rows = try store.rows()
        let states = Dictionary(uniqueKeysWithValues: rows.map { ($0.host, $0.state) })
        let placement = try await placement(states)
        let ok = states[victim] == .evacuated
            && placement.allSatisfy { $0.copies == 1 && $0.hostState == "trusted" && $0.counterGrows && $0.host != victim }
        return (Result(compromised: victim, compromisedState: states[victim]?.rawValue ?? "?", timeline: timeline,
                       placement: placement, ok: ok), rows)
    }

    /// Every VM of the inventory: the hosts it runs on (a running QEMU process), and whether its counter grows.
    func placement(_ states: [String: HostState]) async throws -> [Placement] {
        var placement: [Placement] = []
        let inventory = try region.inventory()
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
            placement.append(Placement(vm: vm.name, host: copies.first, copies: copies.count,
                                       hostState: copies.first.flatMap { states[$0]?.rawValue }, counterGrows: grows))
        }
        return placement
    }
}
