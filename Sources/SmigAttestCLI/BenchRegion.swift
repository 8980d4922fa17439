package import ArgumentParser
import Benchmarks
import Foundation
import Logging
import RegionStorePostgres

/// `smig-attest bench region`: the RC-TCB under the ring duty of N simulated hosts, end to end over HTTPS with
/// mutual TLS and its store (SQLite, PostgreSQL or both), against the same work done in process (``RegionBenchmark`` in the Benchmarks
/// target measures; this parses the options and prints).
package struct BenchRegion: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "region",
        abstract: "RC-TCB attestations/s over mutual TLS and SQLite or PostgreSQL for N simulated hosts, vs the same work in process.",
        discussion: """
        Builds a benchmark-only region in a temporary directory (as `rctcb init` does: region CA, server \
        certificate, SQLite IVT in WAL) with N BENCHMARK DOUBLES: simulated hosts whose attestation keys are \
        software ECDSA P-256 keys, not TPMs, written straight into that throwaway IVT (they cannot enrol in a real \
        region: enrolment needs an EK certificate and TPM2_ActivateCredential). Each double answers with a real \
        TPMS_ATTEST/TPMT_SIGNATURE quote over the RC-TCB's nonce and a measurement log. The real RC-TCB (`smig-attest rctcb \
        serve` over that directory, mutual TLS) runs as a child process; each double connects with its own agent certificate \
        (AsyncHTTPClient) and does ring duty: assignment (nonce for the pair; as agents do, the one the last \
        report's answer carried while it is valid), quote of its neighbour, report; the RC-TCB verifies (pinned AK, nonce spent once, clock continuity, log replay, golden values) and writes the \
        IVT. 'in process' does the same calling the RC-TCB's region logic directly: no HTTP, TLS or JSON, the same \
        SQLite IVT. 'floor' takes turns with the end-to-end run, in stretches of about two seconds each, over the \
        same connections and RC-TCB process with the assignment request alone (mutual TLS, HTTP/1.1, admission, a nonce, a small JSON answer; no evidence, \
        verification or IVT write): the most round trips/s this transport gives on this machine, so no attestation \
        rate can exceed it. --store sqlite,postgresql measures both stores in one invocation, a row per host count \
        and store, with the same doubles and options: each store is the other's baseline, and the table ends with \
        the RC-TCB CPU per attestation of postgresql over sqlite. The postgresql rows run `rctcb serve --store` \
        against a throwaway PostgreSQL 15 cluster the benchmark starts (fsync on; an unprivileged user when run as \
        root) and removes after, or against --store-url, where the benchmark-only region's rows are cleared before \
        and after each row. The targets checked (and printed, met or missed with what was measured beside them): \
        PostgreSQL within 1.5x SQLite's RC-TCB CPU per attestation; SQLite within 2.5x the floor's RC-TCB CPU per \
        round trip; end-to-end p99 under 100 ms at 10000 hosts. Run it from a release build.
        """)

    @Option(help: "Comma-separated host counts.") package var hosts: String = "100,1000,10000"
    @Option(help: "Seconds of attestations per row, and as many of the floor (taking turns in stretches of about 2 s).") package var seconds: Double = 5
    @Option(help: "Attestations in flight (workers, each owning a set of hosts).") public var concurrency: Int = 64
    @Option(help: ArgumentHelp("Comma-separated stores: sqlite, postgresql (a row per host count and store).", valueName: "stores"))
    package var store: String = "sqlite"
    @Option(help: ArgumentHelp("The PostgreSQL server of the postgresql rows (postgresql://…); default: a throwaway cluster.",
                               valueName: "url"))
    package var storeURL: String?
    @OptionGroup package var output: OutputOptions

    package init() {}

    var counts: [Int] { hosts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }
    var stores: [RegionBenchmarkStore] {
        store.split(separator: ",").compactMap { RegionBenchmarkStore(rawValue: $0.trimmingCharacters(in: .whitespaces)) }
    }

    package func validate() throws {
        guard !counts.isEmpty, counts.count == hosts.split(separator: ",").count, counts.allSatisfy({ (2...100_000).contains($0) }) else {
            throw ValidationError("--hosts must be comma-separated counts of 2-100000")
        }
        guard seconds > 0, seconds <= 120 else { throw ValidationError("--seconds must be in (0, 120]") }
        guard (1...4096).contains(concurrency) else { throw ValidationError("--concurrency must be 1-4096") }
        let names = store.split(separator: ",", omittingEmptySubsequences: false)
        guard !stores.isEmpty, stores.count == names.count, Set(stores).count == stores.count else {
            throw ValidationError("--store must be sqlite, postgresql or both, comma-separated, each once (got '\(store)')")
        }
        if let storeURL {
            guard stores.contains(.postgresql) else { throw ValidationError("--store-url is for the postgresql rows: add postgresql to --store") }
            do { _ = try PostgresStoreURL(storeURL) } catch { throw ValidationError("--store-url: \(error)") }
        }
    }

    package func run() async throws {
        try await Output.reportingAsync {
            var logger = Logger(label: "smig-attest.bench-region")
            logger.logLevel = .critical
            let report = try await benchmarkFailures {
                try await RegionBenchmark.run(counts: counts, stores: stores, storeURL: storeURL, seconds: seconds, concurrency: concurrency,
                                              logger: logger)
            }
            let build = report.build
            let rows = report.rows
            if output.json { Output.json(report); return }
            Output.line("bench region (\(build) build, \(concurrency) in flight, \(seconds)s per run; BENCHMARK DOUBLES: software keys, not TPMs)")
            Output.line(Output.table(
                ["hosts", "store", "e2e att/s", "p50 ms", "p99 ms", "errors", "in-process att/s", "p50 ms", "p99 ms", "errors", "e2e/in-process",
                 "floor req/s", "p99 ms", "e2e/floor", "RC-TCB CPU cores", "RC-TCB max RSS MB", "load gen. CPU cores",
                 "RC-TCB CPU µs/att", "PostgreSQL server CPU µs/att", "load gen. CPU µs/att", "steal cores e2e/in-proc./floor"],
                rows.map { r in
                    ["\(r.hosts)", r.store.rawValue, String(format: "%.0f", r.endToEnd.perSecond), String(format: "%.2f", r.endToEnd.p50Milliseconds),
                     String(format: "%.2f", r.endToEnd.p99Milliseconds), "\(r.endToEnd.errors)",
                     String(format: "%.0f", r.inProcess.perSecond), String(format: "%.2f", r.inProcess.p50Milliseconds),
                     String(format: "%.2f", r.inProcess.p99Milliseconds), "\(r.inProcess.errors)",
                     String(format: "%.1f%%", r.ratio * 100),
                     String(format: "%.0f", r.transportFloor.perSecond), String(format: "%.2f", r.transportFloor.p99Milliseconds),
                     String(format: "%.1f%%", r.ratioToFloor * 100), String(format: "%.2f", r.rctcbCPUCores), String(format: "%.0f", r.rctcbMaxRSSMegabytes),
                     String(format: "%.2f", r.endToEnd.processCPUCores),
                     String(format: "%.0f", r.rctcbCPUMicrosecondsPerAttestation),
                     r.storeServerCPUMicrosecondsPerAttestation.map { String(format: "%.0f", $0) } ?? "-",
                     String(format: "%.0f", r.loadGeneratorCPUMicrosecondsPerAttestation),
                     [r.endToEnd, r.inProcess, r.transportFloor].map { $0.stealCores.map { String(format: "%.2f", $0) } ?? "-" }.joined(separator: "/")]
                }))
            Output.line("e2e: the RC-TCB process (smig-attest rctcb serve) over HTTPS with mutual TLS (a certificate per host), its")
            Output.line("verification and store (sqlite: the IVT in WAL; postgresql: rctcb serve --store); in-process: the same verification")
            Output.line("and store writes calling the RC-TCB's region logic directly in this process. Load generator: this process (the")
            Output.line("doubles' quotes and signatures, HTTPS clients). µs/att: CPU per e2e attestation (RC-TCB process; the PostgreSQL")
            Output.line("server when the bench started it; load generator). steal: CPU the host's hypervisor gave other guests during each")
            Output.line("run, in cores (from /proc/stat); with much steal a run's rate is low for that reason alone.")
            Output.line("floor: in turns with e2e (stretches of about 2 s each), the same connections and RC-TCB process answering the")
            Output.line("assignment request alone (mutual TLS, HTTP/1.1, admission, a nonce, a small JSON answer; no evidence, verification")
            Output.line("or IVT write): no attestation can be faster.")
            if let server = report.postgresql { Output.line("postgresql: \(server)") }
            for r in rows {
                let at = "hosts \(r.hosts), \(r.store.rawValue)"
                if let e = r.endToEnd.firstError { Output.line("\(at), e2e, first error: \(e)") }
                if let e = r.inProcess.firstError { Output.line("\(at), in-process, first error: \(e)") }
                if let e = r.transportFloor.firstError { Output.line("\(at), floor, first error: \(e)") }
                Output.line(String(format: "%@, floor: %.0f µs of RC-TCB CPU and %.0f µs of load generator CPU per round trip", at,
                                   r.floorRCTCBCPUMicrosecondsPerRoundTrip, r.floorLoadGeneratorCPUMicrosecondsPerRoundTrip))
            }
            for c in report.targets where c.target == "rctcb-cpu-postgresql-over-sqlite" {
                Output.line(String(format: "hosts %d, RC-TCB CPU per attestation, postgresql / sqlite: %.2fx (%@)", c.hosts, c.value ?? 0, c.detail))
            }
            for c in report.targets {
                let verdict = switch c.met { case true?: "met"; case false?: "MISSED"; case nil: "not measured" }
                let value = c.value.map { String(format: "%.2f", $0) } ?? "-"
                Output.line("target \(c.target) at \(c.hosts) hosts: \(verdict), \(value) (limit \(c.limit)): \(c.detail)")
            }
            if rows.contains(where: { $0.endToEnd.errors > 0 || $0.inProcess.errors > 0 || $0.transportFloor.errors > 0 }) { throw ExitCode(1) }
        }
    }
}
