package import ArgumentParser
import Benchmarks
import Foundation

/// `smig-attest bench response`: from a compromised hypervisor to its VM running on a re-attested host
/// (``ResponseBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchResponse: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "response",
        abstract: "Benchmark the rapid response: compromise → detection → migration start → VM resumed on a re-attested target.",
        discussion: """
            Brings up a loopback region (see `smig-attest demo`) with one ticker guest. Each trial writes into \
            the code of the hypervisor process of the host the guest runs on, and reads the RC-TCB's audit \
            trail for: the host turning untrusted (detection), the migration starting (after the target's \
            challenge), and the guest resuming on the target (after its re-attestation). The host is then \
            repaired (new hypervisor process, TPM reset, new measurement log) and re-attested before the next \
            trial. The push path (agents push a notice on a measurement change) and the challenge-only path \
            (only the ring's challenges, every --challenge-interval) run in the same run; the challenge-only \
            path is the baseline. With --lab namespaces the same run then brings up separate libvirt hosts in \
            namespaces (see `smig-attest demo`: each host its own libvirtd, software TPM and agent; the RC-TCB \
            outside) with one libvirt guest the agents report, and measures the push path there too: the guest \
            moves by orders to the agents, libvirtd to libvirtd across the hosts' links (the host is repaired by \
            a swtpm restart inside its namespaces). p50 and p99 in ms.
            """)

    @Option(help: "Trials per path (at least 20 for the published figures).") var trials = 20
    @Option(help: "Hosts in the region (3-8).") var hosts = 3
    @Option(help: "Guest memory in MiB.") var memory = 64
    @Option(help: "Seconds between ring challenges (the challenge-only path's detection interval).") var challengeInterval = 1.0
    @Option(help: "loopback, or namespaces: also the push path on libvirt hosts in namespaces, in the same run.")
    var lab: Lab = .loopback
    @Flag(help: "Print JSON instead of a table.") var json = false

    package enum Lab: String, ExpressibleByArgument, CaseIterable, Sendable {
        case loopback, namespaces
    }

    package init() {}

    package func validate() throws {
        guard (1...1000).contains(trials) else { throw ValidationError("--trials must be 1-1000") }
        guard (3...8).contains(hosts) else { throw ValidationError("--hosts must be 3-8") }
    }

    package func run() async throws {
        var options = ResponseBenchmark.Options()
        options.trials = trials
        options.hosts = hosts
        options.memoryMiB = memory
        options.challengeInterval = challengeInterval
        options.namespaces = lab == .namespaces
        let quiet = json
        let report = try await benchmarkFailures {
            try await ResponseBenchmark.run(options, say: { if !quiet { Output.stderr("== \($0)\n") } }) { n, t in
                if !quiet {
                    Output.stderr(String(format: "%@ trial %d: %@ → %@, detected %.0f ms, migration started %.0f ms, resumed %.0f ms\n",
                                         t.path, n, t.compromised, t.target, t.detectionMs, t.migrationStartMs, t.resumedMs))
                }
            }
        }
        if json { Output.json(report); return }
        let f = { (s: [String: Double]) in String(format: "%.0f / %.0f", s["p50"] ?? 0, s["p99"] ?? 0) }
        let place = lab == .namespaces ? "on loopback (ticker guest) and on libvirt hosts in namespaces (libvirt guest, moved by the agents)" : "on loopback, ticker guest"
        Output.line("bench response: \(hosts) hosts \(place), \(memory) MiB guest, \(trials) trials per path; p50 / p99 in ms (challenge-only is the baseline)")
        Output.line(Output.table(["PATH", "COMPROMISE→DETECTION", "DETECTION→MIGRATION START", "MIGRATION START→RESUMED", "COMPROMISE→MIGRATION START", "COMPROMISE→RESUMED"],
                                 report.rows.map { [$0.path, f($0.compromiseToDetection), f($0.detectionToMigrationStart), f($0.migrationStartToResumed), f($0.compromiseToMigrationStart), f($0.compromiseToResumed)] }))
    }
}
