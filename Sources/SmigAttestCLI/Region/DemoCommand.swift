package import ArgumentParser
import Dispatch
import Foundation
import RegionLab

/// `smig-attest demo`: a whole region on loopback, a compromised hypervisor, and the rapid response
/// (``DemoScenario`` in RegionLab runs and judges it; this parses the options and prints).
package struct DemoCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Bring up a region on loopback, compromise one hypervisor, and watch its VMs move to re-attested hosts.",
        discussion: """
            Per host: a software TPM (swtpm, EK certificates from a local CA), an agent, a QEMU process standing \
            in for the hypervisor (measured as process-text) and --vms ticker guests; one RC-TCB (mutual TLS, \
            SQLite IVT and VM inventory). Every host enrols and turns trusted; then the demo writes 64 bytes \
            into one hypervisor's code and prints what follows as a timeline in milliseconds: detection, the \
            decision, the target's challenge, the migration (destination paused), the target's re-attestation \
            and the resume. It ends with the IVT and where each VM runs, checks that the compromised host is \
            empty and every VM runs exactly once on a trusted host with its counter still growing (exit 1 if \
            not), and stops everything it started — also on Ctrl-C.
            """)

    @Option(help: "Hosts in the region (2-12).") var hosts = 5
    @Option(help: "Ticker guests per host (0-4).") var vms = 2
    @Option(help: "Memory of each guest in MiB.") var memory = 64
    @Option(help: "Host to compromise (default: the middle one).") var compromise: String?
    @Flag(help: "Leave the region running afterwards (stop with Ctrl-C); `smig-attest ivt --watch` works against it.")
    var keepRunning = false
    @OptionGroup var output: OutputOptions

    package init() {}

    package func validate() throws {
        guard (2...12).contains(hosts) else { throw ValidationError("--hosts must be 2-12") }
        guard (0...4).contains(vms) else { throw ValidationError("--vms must be 0-4") }
        guard (16...1024).contains(memory) else { throw ValidationError("--memory must be 16-1024 MiB") }
    }

    package func run() async throws {
        let json = output.json
        let demo = try DemoScenario(hosts: hosts, vmsPerHost: vms, vmMemoryMiB: memory) { line in if !json { Output.line("== \(line)") } }
        let region = demo.region
        // Ctrl-C: stop everything that was started, then leave.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        for source in [interrupt, terminate] {
            source.setEventHandler {
                Output.stderr("\nstopping the region…\n")
                demo.stop()
                Foundation.exit(130)
            }
            source.resume()
        }
        defer { if !keepRunning { demo.stop() } }

        if !json { Output.line("smig-attest demo: \(hosts) hosts, \(hosts * vms) guests, on loopback (work directory \(region.dir))") }
        let before = try await demo.start()
        if !json {
            Output.line("\nThe IVT: every host enrolled, attested by its ring neighbour, trusted")
            Output.line(IVTCommand.render(before, now: Date(), terminal: isatty(1) != 0))
        }

        let victim = compromise ?? demo.defaultVictim
        guard let index = demo.index(of: victim) else { throw ValidationError("--compromise: no host \(victim)") }
        if !json {
            Output.line("\n== compromising \(victim): 64 bytes written into its hypervisor's code (QEMU pid \(try region.pid(of: region.hosts[index].hypervisor)))")
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
