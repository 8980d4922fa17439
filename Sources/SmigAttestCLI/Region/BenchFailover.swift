package import ArgumentParser
import Benchmarks
import Foundation
import Logging
import RegionStorePostgres
import RegionTCB

/// `smig-attest bench failover`: how soon a region acts again after its leader RC-TCB is lost
/// (``FailoverBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchFailover: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "Benchmark leader failover: from the leader RC-TCB's loss to the new leader's first verdict and first evacuation step.",
        discussion: """
            Each run starts a region in PostgreSQL (a throwaway cluster of Debian's postgresql-15, run as nobody; or \
            --store-url, where each run is a region of its own) served by --rctcbs real `rctcb serve` processes, with \
            a QEMU guest (the ticker) on host-1 and three hosts that exist for the benchmark only: enrolled with the \
            AK of a software double (no TPM) and silent (nothing answers their challenges, so the leader's direct \
            challenge of each, every round, ends in an unreachable verdict after the policy's 1 s \
            unreachable-timeout). Once the leader has judged every host it is sent a signal and host-1 is revoked \
            at once, so its guest is due for evacuation. Measured from the signal, on the RC-TCBs' own \
            timestamps in the store: the first verdict of the new leader, and its first evacuation step \
            (evacuation.started of host-1). Each run does it twice: SIGKILL (a follower waits for the lease to run \
            out) and, as the baseline, SIGTERM (the leader gives the lease up). The target is p99 under 5 s after \
            a SIGKILL. Figures in seconds.
            """)

    @Option(help: "Runs (each: one SIGKILL and one SIGTERM failover).") package var runs = 10
    @Option(help: "RC-TCB processes sharing the region (2-3).") package var rctcbs = 2
    @Option(help: ArgumentHelp("The leader lease in seconds (rctcb serve --lease).", valueName: "seconds")) package var lease = 3.0
    @Option(help: ArgumentHelp("Run in this database instead of a throwaway cluster (postgresql://…, as rctcb serve --store).", valueName: "url"))
    package var storeURL: String?
    @Flag(help: "Print JSON instead of a table.") package var json = false

    package init() {}

    package func validate() throws {
        guard (1...1000).contains(runs) else { throw ValidationError("--runs must be 1-1000") }
        guard (2...3).contains(rctcbs) else { throw ValidationError("--rctcbs must be 2 or 3") }
        guard lease >= 0.3, lease <= 600 else { throw ValidationError("--lease must be 0.3 to 600 seconds (as rctcb serve --lease)") }
        if let storeURL {
            do { _ = try PostgresStoreURL(storeURL) } catch { throw ValidationError("--store-url: \(error.reason) (\(error.hint ?? ""))") }
        }
    }

    package func run() async throws {
        let options = FailoverBenchmark.Options(runs: runs, rctcbs: rctcbs, lease: .milliseconds(Int64(lease * 1000)), storeURL: storeURL)
        var logger = Logger(label: "smig-attest.bench")
        logger.logLevel = .warning
        let report = try await benchmarkFailures { [logger] in try await FailoverBenchmark.run(options, logger: logger) }
        if json { Output.json(report); return }
        let f = { (s: FailoverBenchmark.Spread) in String(format: "%.2f / %.2f / %.2f", s.p50, s.p99, s.max) }
        Output.line(String(format: "bench failover: %d RC-TCBs on PostgreSQL, lease %.1f s, %d hosts, %d runs (%@ build); p50 / p99 / max in s",
                           report.rctcbs, report.leaseSeconds, report.hosts, runs, report.build))
        Output.line(Output.table(["LEADER LOST BY", "→ FIRST VERDICT", "→ FIRST EVACUATION STEP"],
                                 report.rows.map { [$0.departure.label, f($0.firstVerdict), f($0.firstEvacuationStep)] }))
        Output.line(String(format: "target: p99 under %.0f s after a SIGKILL: %@", report.targetSeconds, report.targetMet ? "met" : "NOT met"))
    }
}
