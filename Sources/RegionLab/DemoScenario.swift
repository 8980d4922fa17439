package import Foundation
package import Migration
package import RegionTCB

/// A region the demo runs on: ``NamespaceRegion`` (separate libvirt hosts in namespaces) or ``LoopbackRegion``.
package protocol DemoRegion: AnyObject, Sendable {
    /// The region's work directory (logs).
    var dir: String { get }
    var url: String { get }
    var rctcbDir: String { get }
    /// The region's host ids, in order.
    var hostIDs: [String] { get }
    func start() async throws
    func stop()
    func store() throws -> IVTStore
    /// The RC-TCB's VM inventory.
    func inventory() throws -> VMInventory
    /// Compromises host `index`'s hypervisor; returns when.
    func compromise(_ index: Int) throws -> Date
    /// What ``compromise(_:)`` does to host `index`, in words.
    func compromiseDescription(_ index: Int) -> String
    /// Every VM of the region: the hosts it runs on, and whether its counter grows.
    func placement(_ states: [String: HostState]) async throws -> [DemoScenario.Placement]
    /// Brings compromised host `index` back as a freshly booted one (the RC-TCB re-attests it).
    func repair(_ index: Int) async throws
    /// Polls `condition` every 50 ms; throws after `seconds`.
    func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) async throws
}

/// The scenario of `smig-attest demo`: a region comes up — separate libvirt hosts in namespaces (``NamespaceRegion``)
/// where they can be made, else on loopback (``LoopbackRegion``) — one hypervisor is compromised, the RC-TCB's
/// audit trail is followed until the host is evacuated, and the outcome is judged: the demo passes when the
/// compromised host is `evacuated` and every VM runs exactly once, on a trusted host, with its counter growing.
package final class DemoScenario: Sendable {
    /// Which region the demo ran on.
    package enum Lab: String, Codable, Sendable, CaseIterable {
        /// Separate libvirt hosts, each its own network, mount and UTS namespace; the guests are libvirt domains.
        case namespaces
        /// One machine's loopback; the guests are QEMU processes the region starts.
        case loopback
    }

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
        package var lab: Lab
        /// Why the demo runs on loopback though namespaces were asked for or possible (nil otherwise).
        package var fallback: String?
        package var compromised: String
        package var compromisedState: String
        package var timeline: [Step]
        package var placement: [Placement]
        package var ok: Bool
    }

    package let region: any DemoRegion
    package let lab: Lab
    package let fallback: String?
    /// The guests to define per host on the namespace lab, once it is up.
    let vmsPerHost: Int
    let vmMemoryMiB: Int

    private init(region: any DemoRegion, lab: Lab, fallback: String?, vmsPerHost: Int, vmMemoryMiB: Int) {
        self.region = region
        self.lab = lab
        self.fallback = fallback
        self.vmsPerHost = vmsPerHost
        self.vmMemoryMiB = vmMemoryMiB
    }

    /// Brings the region up and returns the scenario with the IVT once every host is enrolled and trusted (and, on
    /// namespaces, every guest adopted). `lab` nil: namespaces where they can be made, else loopback (the reason in
    /// ``fallback``). `say` hears the region's progress while it comes up.
    package static func start(lab: Lab?, hosts: Int, vmsPerHost: Int, vmMemoryMiB: Int,
                              onRegion: (any DemoRegion) -> Void = { _ in },
                              say: @escaping @Sendable (String) -> Void) async throws -> (DemoScenario, [IVTRow]) {
        var fallback: String?
        if lab != .loopback {
            var options = NamespaceRegion.Options(binary: OwnExecutable.path)
            options.hosts = hosts
            let region = try NamespaceRegion(options, say: say)
            onRegion(region)
            do {
                try await region.start()
                let demo = DemoScenario(region: region, lab: .namespaces, fallback: nil, vmsPerHost: vmsPerHost, vmMemoryMiB: vmMemoryMiB)
                try await demo.defineGuests(on: region)
                return (demo, try region.store().rows())
            } catch let unavailable as NamespaceRegion.Unavailable where lab == nil {
                region.stop()
                fallback = unavailable.description
                say("namespaces cannot be made here (\(unavailable.description)); running on loopback instead")
            } catch {
                region.stop()
                throw error
            }
        }
        var options = LoopbackRegion.Options(binary: OwnExecutable.path)
        options.hosts = hosts
        options.vmsPerHost = vmsPerHost
        options.vmMemoryMiB = vmMemoryMiB
        let region = try LoopbackRegion(options, say: say)
        onRegion(region)
        do {
            try await region.start()
        } catch {
            region.stop()
            throw error
        }
        return (DemoScenario(region: region, lab: .loopback, fallback: fallback, vmsPerHost: vmsPerHost, vmMemoryMiB: vmMemoryMiB),
                try region.store().rows())
    }

    /// On the namespace lab: defines and starts the guests with virsh on every host (libvirt's domains, not the
    /// region's), then waits until the RC-TCB has adopted each from its host's agent report.
    func defineGuests(on region: NamespaceRegion) async throws {
        guard vmsPerHost > 0 else { return }
        region.say("defining \(region.hosts.count * vmsPerHost) libvirt guests (\(vmMemoryMiB) MiB each) with virsh; the agents report them, the RC-TCB adopts them")
        for h in region.hosts {
            for j in 1...vmsPerHost {
                try await region.defineGuest("vm-\(h.id.dropFirst(5))-\(j)", on: h.id, memoryMiB: vmMemoryMiB)
            }
        }
        try await region.waitUntilAdopted(count: region.hosts.count * vmsPerHost)
    }

    /// Stops everything the region started.
    package func stop() { region.stop() }

    /// The host compromised when none is named: the middle one.
    package var defaultVictim: String { region.hostIDs[region.hostIDs.count / 2] }

    /// The index of host `id` in the region, nil when it has no such host.
    package func index(of id: String) -> Int? { region.hostIDs.firstIndex(of: id) }

    /// Writes into the hypervisor of host `index`, follows the response (each step to `onStep` as it is written)
    /// until the host is evacuated or 90 s have passed, then judges where the VMs run. Returns the result and the
    /// IVT after the response.
    package func respond(compromising index: Int, onStep: (Step) -> Void) async throws -> (Result, [IVTRow]) {
        let victim = region.hostIDs[index]
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
        let placement = try await region.placement(states)
        let ok = states[victim] == .evacuated
            && placement.allSatisfy { $0.copies == 1 && $0.hostState == "trusted" && $0.counterGrows && $0.host != victim }
        return (Result(lab: lab, fallback: fallback, compromised: victim, compromisedState: states[victim]?.rawValue ?? "?", timeline: timeline,
                       placement: placement, ok: ok), rows)
    }
}
