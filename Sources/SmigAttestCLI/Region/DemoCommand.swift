package import ArgumentParser
import Dispatch
import Foundation
import RegionLab

/// `smig-attest demo`: a whole region — separate libvirt hosts in namespaces, or loopback — a compromised
/// hypervisor, and the rapid response (``DemoScenario`` in RegionLab runs and judges it; this parses and prints).
package struct DemoCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Bring up a region, compromise one hypervisor, and watch its VMs move to re-attested hosts.",
        discussion: """
            On namespaces (the default where they can be made: root, util-linux, iproute2, libvirt-daemon-system, \
            swtpm): every host is its own network, mount and UTS namespace with its own address on a bridge, its \
            own libvirtd and virtlogd, software TPM (swtpm, EK certificates from a local CA) and agent (VM manager \
            libvirt); the RC-TCB runs outside them. The guests are libvirt domains the demo defines with virsh — \
            the region never starts them: the agents report them and the RC-TCB adopts them — and they move by \
            orders to the agents, libvirtd to libvirtd across the hosts' links. On loopback (--lab loopback, or \
            where namespaces or libvirtd cannot be made; the demo says why): per host a software TPM, an agent, a \
            QEMU process standing in for the hypervisor (measured as process-text) and ticker guests the region \
            starts. Every host enrols and turns trusted; then the demo compromises one hypervisor and prints what \
            follows as a timeline in milliseconds: detection, the decision, the target's challenge, the migration \
            (destination paused), the target's re-attestation and the resume. It ends with the IVT and where each \
            VM runs, checks that the compromised host is empty and every VM runs exactly once on a trusted host \
            with its counter still growing (exit 1 if not), and stops everything it started — also on Ctrl-C.
            """)

    @Option(help: "Where the region runs: namespaces, loopback, or auto (namespaces where they can be made, else loopback).")
    var lab: LabChoice = .auto
    @Option(help: "Hosts in the region (2-12; at most 9 unless --lab loopback). Default: 3 on namespaces, 5 on loopback.") var hosts: Int?
    @Option(help: "Guests per host (0-4). Default: 1 on namespaces, 2 on loopback.") var vms: Int?
    @Option(help: "Memory of each guest in MiB.") var memory = 64
    @Option(help: "Host to compromise (default: the middle one).") var compromise: String?
    @Flag(help: "Leave the region running afterwards (stop with Ctrl-C); `smig-attest ivt --watch` works against it.")
    var keepRunning = false
    @OptionGroup var output: OutputOptions

    package enum LabChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
        case auto, namespaces, loopback
        var lab: DemoScenario.Lab? { self == .auto ? nil : DemoScenario.Lab(rawValue: rawValue) }
    }

    package init() {}

    package func validate() throws {
        if let hosts {
            guard (2...12).contains(hosts) else { throw ValidationError("--hosts must be 2-12") }
            guard hosts <= 9 || lab == .loopback else { throw ValidationError("--hosts must be 2-9 on namespaces (or use --lab loopback)") }
        }
        if let vms { guard (0...4).contains(vms) else { throw ValidationError("--vms must be 0-4") } }
        guard (16...1024).contains(memory) else { throw ValidationError("--memory must be 16-1024 MiB") }
    }

    package func run() async throws {
        let json = output.json
        let say: @Sendable (String) -> Void = { line in if !json { Output.line("== \(line)") } }
        // Ctrl-C: stop everything that was started (the region as soon as it exists), then leave.
        let started = StartedRegion()
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        for source in [interrupt, terminate] {
            source.setEventHandler {
                Output.stderr("\nstopping the region…\n")
                started.stop()
                Foundation.exit(130)
            }
            source.resume()
        }
        // Defaults per lab: namespaces are heavier (a libvirtd per host, TCG guests).
        let namespaces = lab != .loopback
        let hostCount = hosts ?? (namespaces ? 3 : 5)
        let vmCount = vms ?? (namespaces ? 1 : 2)
        let (demo, before) = try await DemoScenario.start(lab: lab.lab, hosts: hostCount, vmsPerHost: vmCount, vmMemoryMiB: memory,
                                                          onRegion: { started.set($0) }, say: say)
        let region = demo.region
        defer { if !keepRunning { demo.stop() } }
        if !json {
            let place = demo.lab == .namespaces ? "on \(hostCount) libvirt hosts in network namespaces (guests: libvirt domains)" : "on loopback (guests: QEMU processes)"
            Output.line("smig-attest demo: \(hostCount) hosts, \(hostCount * vmCount) guests, \(place); work directory \(region.dir)")
            if let why = demo.fallback { Output.line("   not on namespaces: \(why)") }
            Output.line("\nThe IVT: every host enrolled, attested by its ring neighbour, trusted")
            Output.line(IVTCommand.render(before, now: Date(), terminal: isatty(1) != 0))
        }

        let victim = compromise ?? demo.defaultVictim
        guard let index = demo.index(of: victim) else { throw ValidationError("--compromise: no host \(victim)") }
        if !json {
            Output.line("\n== compromising \(victim): \(region.compromiseDescription(index))")
            Output.line("timeline, ms after the compromise:")
        }
        let (result, rows) = try await demo.respond(compromising: index) { step in if !json { Output.line(Self.render(step)) } }
        if json {
            Output.json(result)
        } else {
            Output.line("\nThe IVT after the response")
            Output.line(IVTCommand.render(rows, now: Date(), terminal: isatty(1) != 0))
            Output.line("\nWhere each VM runs")
            Output.line(Output.table(["VM", "HOST", "HOST STATE", "RUNNING COPIES", "COUNTER GROWS"],
                                     result.placement.map { [$0.vm, $0.host ?? "-", $0.hostState ?? "-", "\($0.copies)", $0.counterGrows ? "yes" : "NO"] }))
            Output.line(result.ok ? "\n\(victim) is \(result.compromisedState) and empty; every VM runs once on a trusted host and keeps counting."
                                  : "\nFAILED: \(victim) is \(result.compromisedState); see the placement above (logs in \(region.dir))")
        }
        if keepRunning {
            Output.stderr("""

                The region keeps running (Ctrl-C stops it):
                  smig-attest ivt --watch --rctcb \(region.url) --dir \(region.rctcbDir)
                  smig-attest events --rctcb \(region.url) --dir \(region.rctcbDir)

                """)
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        if !result.ok { throw ExitCode(1) }
    }

    static func render(_ s: DemoScenario.Step) -> String {
        let what: String = switch s.kind {
        case "state": "\(s.change ?? "")\(s.code.map { "  (\($0))" } ?? "")"
        default: "\(s.kind.replacingOccurrences(of: "evacuation.", with: ""))  \(s.detail ?? "")"
        }
        return String(format: "%7d ms  %-8@ %@", s.ms, (s.host ?? "-") as NSString, what)
    }
}

/// The region the demo started, for the signal handler (set once it exists).
private final class StartedRegion: @unchecked Sendable {
    // @unchecked Sendable: `region` is guarded by `lock`.
    private let lock = NSLock()
    private var region: (any DemoRegion)?

    func set(_ region: any DemoRegion) { lock.withLock { self.region = region } }

    func stop() { lock.withLock { region }?.stop() }
}
