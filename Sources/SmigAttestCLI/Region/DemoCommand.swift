package import ArgumentParser
import BuiltInGuests
import Dispatch
import Foundation
import Migration
import RegionLab
import RegionTCB

/// `smig-attest demo`: a whole region on loopback, a compromised hypervisor, and the rapid response.
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

    struct Step: Codable {
        var ms: Int
        var host: String?
        var kind: String
        var change: String?
        var code: String?
        var detail: String?
    }

    struct Placement: Codable {
        var vm: String
        var host: String?
        var copies: Int
        var hostState: String?
        var counterGrows: Bool
    }

    struct Result: Codable {
        var compromised: String
        var compromisedState: String
        var timeline: [Step]
        var placement: [Placement]
        var ok: Bool
    }

    package func run() async throws {
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var options = LoopbackRegion.Options(binary: binary)
        options.hosts = hosts
        options.vmsPerHost = vms
        options.vmMemoryMiB = memory
        let json = output.json
        let region = try LoopbackRegion(options) { line in if !json { Output.line("== \(line)") } }
        // Ctrl-C: stop everything that was started, then leave.
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        for source in [interrupt, terminate] {
            source.setEventHandler {
                Output.stderr("\nstopping the region…\n")
                region.stop()
                Foundation.exit(130)
            }
            source.resume()
        }
        defer { if !keepRunning { region.stop() } }

        if !json { Output.line("smig-attest demo: \(hosts) hosts, \(hosts * vms) guests, on loopback (work directory \(region.dir))") }
        try await region.start()
        let store = try region.store()
        if !json {
            Output.line("\nThe IVT: every host enrolled, attested by its ring neighbour, trusted")
            Output.line(IVTCommand.render(try store.rows(), now: Date(), terminal: isatty(1) != 0))
        }

        let victim = compromise ?? region.hosts[hosts / 2].id
        guard let index = region.hosts.firstIndex(where: { $0.id == victim }) else { throw ValidationError("--compromise: no host \(victim)") }
        let since = try store.lastEventSeq()
        if !json { Output.line("\n== compromising \(victim): 64 bytes written into its hypervisor's code (QEMU pid \(try region.pid(of: region.hosts[index].hypervisor)))") }
        let t0 = try region.compromise(index)

        var timeline: [Step] = []
        var seen = since
        var finished = false
        let deadline = Date().addingTimeInterval(90)
        if !json { Output.line("timeline, ms after the compromise:") }
        while Date() < deadline {
            for e in try store.events(since: seen) {
                seen = e.seq
                guard e.kind == "state" || e.kind.hasPrefix("evacuation.") || e.kind.hasPrefix("recovery.") else { continue }
                let step = Step(ms: Int(e.at.timeIntervalSince(t0) * 1000), host: e.host, kind: e.kind,
                                change: e.oldState.map { "\($0) → \(e.newState ?? "?")" }, code: e.code, detail: e.detail)
                timeline.append(step)
                if !json { Output.line(Self.render(step)) }
                if e.kind == "evacuation.finished", e.host == victim { finished = true }
            }
            // The host turns `evacuated` just before the evacuation's closing event is written: wait for both.
            if finished, try store.row(victim)?.state == .evacuated { break }
            try await Task.sleep(for: .milliseconds(50))
        }

        let rows = try store.rows()
        let states = Dictionary(uniqueKeysWithValues: rows.map { ($0.host, $0.state) })
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
            placement.append(Placement(vm: vm.name, host: copies.first, copies: copies.count, hostState: copies.first.flatMap { states[$0]?.rawValue }, counterGrows: grows))
        }
        let victimState = states[victim]?.rawValue ?? "?"
        let ok = states[victim] == .evacuated && placement.allSatisfy { $0.copies == 1 && $0.hostState == "trusted" && $0.counterGrows && $0.host != victim }
        let result = Result(compromised: victim, compromisedState: victimState, timeline: timeline, placement: placement, ok: ok)
        if json {
            Output.json(result)
        } else {
            Output.line("\nThe IVT after the response")
            Output.line(IVTCommand.render(rows, now: Date(), terminal: isatty(1) != 0))
            Output.line("\nWhere each VM runs")
            Output.line(Output.table(["VM", "HOST", "HOST STATE", "RUNNING COPIES", "COUNTER GROWS"],
                                     placement.map { [$0.vm, $0.host ?? "-", $0.hostState ?? "-", "\($0.copies)", $0.counterGrows ? "yes" : "NO"] }))
            Output.line(ok ? "\n\(victim) is \(victimState) and empty; every VM runs once on a trusted host and keeps counting."
                           : "\nFAILED: \(victim) is \(victimState); see the placement above (logs in \(region.dir))")
        }
        if keepRunning {
            Output.stderr("""

                The region keeps running (Ctrl-C stops it):
                  smig-attest ivt --watch --rctcb \(region.url) --dir \(region.rctcbDir)
                  smig-attest events --rctcb \(region.url) --dir \(region.rctcbDir)

                """)
            while true { try await Task.sleep(for: .seconds(3600)) }
        }
        if !ok { throw ExitCode(1) }
    }

    static func render(_ s: Step) -> String {
        let what: String = switch s.kind {
        case "state": "\(s.change ?? "")\(s.code.map { "  (\($0))" } ?? "")"
        default: "\(s.kind.replacingOccurrences(of: "evacuation.", with: ""))  \(s.detail ?? "")"
        }
        return String(format: "%7d ms  %-8@ %@", s.ms, (s.host ?? "-") as NSString, what)
    }
}
