package import ArgumentParser
import Benchmarks
import Foundation
import Logging

/// `smig-attest bench region`: the RC-TCB under the ring duty of N simulated hosts, end to end over HTTPS with
/// mutual TLS and the SQLite IVT, against the same work done in process (``RegionBenchmark`` in the Benchmarks
/// target measures; this parses the options and prints).
package struct BenchRegion: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "region",
        abstract: "RC-TCB attestations/s over mutual TLS and SQLite for N simulated hosts, vs the same work in process.",
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
        SQLite IVT. 'floor' follows the end-to-end run over the same connections and RC-TCB process with the \
        assignment request alone (mutual TLS, HTTP/1.1, admission, a nonce, a small JSON answer; no evidence, \
        verification or IVT write): the most round trips/s this transport gives on this machine, so no attestation \
        rate can exceed it. Run it from a release build.
        """)

    @Option(help: "Comma-separated host counts.") package var hosts: String = "100,1000,10000"
    @Option(help: "Seconds per measured run.") package var seconds: Double = 5
    @Option(help: "Attestations in flight (workers, each owning a set of hosts).") public var concurrency: Int = 64
    @OptionGroup package var output: OutputOptions

    package init() {}

    var counts: [Int] { hosts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    package func validate() throws {
        guard !counts.isEmpty, counts.count == hosts.split(separator: ",").count, counts.allSatisfy({ (2...100_000).contains($0) }) else {
            throw ValidationError("--hosts must be comma-separated counts of 2-100000")
        }
        guard seconds > 0, seconds <= 120 else { throw ValidationError("--seconds must be in (0, 120]") }
        guard (1...4096).contains(concurrency) else { throw ValidationError("--concurrency must be 1-4096") }
    }

    package func run() async throws {
        try await Output.reportingAsync {
            var logger = Logger(label: "smig-attest.bench-region")
            logger.logLevel = .critical
            let report = try await benchmarkFailures {
                try await RegionBenchmark.run(counts: counts, seconds: seconds, concurrency: concurrency, logger: logger)
            }
            let build = report.build
            let rows = report.rows
            if output.json { Output.json(report); return }
            Output.line("bench region (\(build) build, \(concurrency) in flight, \(seconds)s per run; BENCHMARK DOUBLES: software keys, not TPMs)")
            Output.line(Output.table(
                ["hosts", "e2e att/s", "p50 ms", "p99 ms", "errors", "in-process att/s", "p50 ms", "p99 ms", "errors", "e2e/in-process",
                 "floor req/s", "p99 ms", "e2e/floor", "RC-TCB CPU cores", "RC-TCB max RSS MB", "load gen. CPU cores",
                 "RC-TCB CPU µs/att", "load gen. CPU µs/att", "steal cores e2e/in-proc./floor"],
                rows.map { r in
                    ["\(r.hosts)", String(format: "%.0f", r.endToEnd.perSecond), String(format: "%.2f", r.endToEnd.p50Milliseconds),
                     String(format: "%.2f", r.endToEnd.p99Milliseconds), "\(r.endToEnd.errors)",
                     String(format: "%.0f", r.inProcess.perSecond), String(format: "%.2f", r.inProcess.p50Milliseconds),
                     String(format: "%.2f", r.inProcess.p99Milliseconds), "\(r.inProcess.errors)",
                     String(format: "%.1f%%", r.ratio * 100),
                     String(format: "%.0f", r.transportFloor.perSecond), String(format: "%.2f", r.transportFloor.p99Milliseconds),
                     String(format: "%.1f%%", r.ratioToFloor * 100), String(format: "%.2f", r.rctcbCPUCores), String(format: "%.0f", r.rctcbMaxRSSMegabytes),
                     String(format: "%.2f", r.endToEnd.processCPUCores),
                     String(format: "%.0f", r.rctcbCPUMicrosecondsPerAttestation), String(format: "%.0f", r.loadGeneratorCPUMicrosecondsPerAttestation),
                     [r.endToEnd, r.inProcess, r.transportFloor].map { $0.stealCores.map { String(format: "%.2f", $0) } ?? "-" }.joined(separator: "/")]
                }))
            Output.line("e2e: the RC-TCB process (smig-attest rctcb serve) over HTTPS with mutual TLS (a certificate per host), its")
            Output.line("verification and SQLite IVT (WAL); in-process: the same verification and IVT writes calling the RC-TCB's region")
            Output.line("logic directly in this process. Load generator: this process (the doubles' quotes and signatures, HTTPS clients).")
            Output.line("µs/att: CPU per e2e attestation (RC-TCB process, load generator). steal: CPU the host's hypervisor gave other")
            Output.line("guests during each run, in cores (from /proc/stat); with much steal a run's rate is low for that reason alone.")
            Output.line("floor: right after e2e, the same connections and RC-TCB process answering the assignment request alone (mutual TLS,")
            Output.line("HTTP/1.1, admission, a nonce, a small JSON answer; no evidence, verification or IVT write): no attestation can be faster.")
            for r in rows {
                if let e = r.endToEnd.firstError { Output.line("hosts \(r.hosts), e2e, first error: \(e)") }
                if let e = r.inProcess.firstError { Output.line("hosts \(r.hosts), in-process, first error: \(e)") }
                if let e = r.transportFloor.firstError { Output.line("hosts \(r.hosts), floor, first error: \(e)") }
                Output.line(String(format: "hosts %d, floor: %.0f µs of RC-TCB CPU and %.0f µs of load generator CPU per round trip", r.hosts,
                                   r.floorRCTCBCPUMicrosecondsPerRoundTrip, r.floorLoadGeneratorCPUMicrosecondsPerRoundTrip))
            }
            if rows.contains(where: { $0.endToEnd.errors > 0 || $0.inProcess.errors > 0 || $0.transportFloor.errors > 0 }) { throw ExitCode(1) }
        }
    }
}
