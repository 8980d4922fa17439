public import ArgumentParser
import Foundation
import Logging
import RegionTCB

/// `smig-attest bench region`: the RC-TCB under the ring duty of N simulated hosts, end to end over HTTPS with
/// mutual TLS and the SQLite IVT, against the same work done in process.
public struct BenchRegion: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "region",
        abstract: "RC-TCB attestations/s over mutual TLS and SQLite for N simulated hosts, vs the same work in process.",
        discussion: """
        Builds a benchmark-only region in a temporary directory (as `rctcb init` does: region CA, server \
        certificate, SQLite IVT in WAL) with N BENCHMARK DOUBLES: simulated hosts whose attestation keys are \
        software ECDSA P-256 keys, not TPMs, written straight into that throwaway IVT (they cannot enrol in a real \
        region: enrolment needs an EK certificate and TPM2_ActivateCredential). Each double answers with a real \
        TPMS_ATTEST/TPMT_SIGNATURE quote over the RC-TCB's nonce and a measurement log. The real RC-TCB service \
        (Hummingbird, mutual TLS) runs in this process; each double connects with its own agent certificate \
        (AsyncHTTPClient) and does ring duty: assignment (nonce for the pair), quote of its neighbour, report; the \
        RC-TCB verifies (pinned AK, nonce spent once, clock continuity, log replay, golden values) and writes the \
        IVT. 'in process' does the same calling the RC-TCB's region logic directly: no HTTP, TLS or JSON, the same \
        SQLite IVT. Run it from a release build.
        """)

    @Option(help: "Comma-separated host counts.") public var hosts: String = "100,1000,10000"
    @Option(help: "Seconds per measured run.") public var seconds: Double = 5
    @Option(help: "Attestations in flight (workers, each owning a set of hosts).") public var concurrency: Int = 64
    @OptionGroup public var output: OutputOptions

    public init() {}

    var counts: [Int] { hosts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    public func validate() throws {
        guard !counts.isEmpty, counts.count == hosts.split(separator: ",").count, counts.allSatisfy({ (2...100_000).contains($0) }) else {
            throw ValidationError("--hosts must be comma-separated counts of 2-100000")
        }
        guard seconds > 0, seconds <= 120 else { throw ValidationError("--seconds must be in (0, 120]") }
        guard (1...4096).contains(concurrency) else { throw ValidationError("--concurrency must be 1-4096") }
    }

    struct Row: Encodable {
        var hosts: Int
        var endToEnd: RegionLoadResult
        var inProcess: RegionLoadResult
        /// End-to-end attestations/s over in-process attestations/s.
        var ratio: Double
        var maxRSSMegabytes: Double
    }

    struct Report: Encodable {
        var benchmark = "region"
        var build: String
        var concurrency: Int
        var seconds: Double
        var rows: [Row]
    }

    public func run() async throws {
        try await Output.reportingAsync {
            var logger = Logger(label: "smig-attest.bench-region")
            logger.logLevel = .critical
            var rows: [Row] = []
            let needed = 2 * (counts.max() ?? 0) + 1024
            let limit = DescriptorLimit.raise(toAtLeast: needed)
            guard limit >= needed else {
                throw CommandFailure("bench region: \(counts.max() ?? 0) hosts need \(needed) open files (a connection per host, both ends in this process); the limit is \(limit) (raise it with ulimit -n, or run as root)")
            }
            for n in counts {
                let bench = try BenchmarkRegion(hosts: n, logger: logger)
                defer { bench.destroy() }
                try await bench.warmUp()
                let port = PortBox()
                let server = Task { try await bench.serve { p in port.set(p) } }
                defer { server.cancel() }
                let bound = try await port.wait()
                let url = "https://127.0.0.1:\(bound)"
                let e2e = try await RegionLoadGenerator.endToEnd(bench, url: url, concurrency: concurrency, seconds: seconds)
                server.cancel()
                _ = await server.result
                let local = await RegionLoadGenerator.inProcess(bench, concurrency: concurrency, seconds: seconds)
                rows.append(Row(hosts: n, endToEnd: e2e, inProcess: local,
                                ratio: local.perSecond > 0 ? (e2e.perSecond / local.perSecond * 1000).rounded() / 1000 : 0,
                                maxRSSMegabytes: ProcessUsage.maxRSSMegabytes()))
            }
            #if DEBUG
            let build = "debug"
            #else
            let build = "release"
            #endif
            let report = Report(build: build, concurrency: concurrency, seconds: seconds, rows: rows)
            if output.json { Output.json(report); return }
            Output.line("bench region (\(build) build, \(concurrency) in flight, \(seconds)s per run; BENCHMARK DOUBLES: software keys, not TPMs)")
            Output.line(Output.table(
                ["hosts", "e2e att/s", "p50 ms", "p99 ms", "errors", "in-process att/s", "p50 ms", "p99 ms", "errors", "e2e/in-process", "CPU cores", "max RSS MB"],
                rows.map { r in
                    ["\(r.hosts)", String(format: "%.0f", r.endToEnd.perSecond), String(format: "%.2f", r.endToEnd.p50Milliseconds),
                     String(format: "%.2f", r.endToEnd.p99Milliseconds), "\(r.endToEnd.errors)",
                     String(format: "%.0f", r.inProcess.perSecond), String(format: "%.2f", r.inProcess.p50Milliseconds),
                     String(format: "%.2f", r.inProcess.p99Milliseconds), "\(r.inProcess.errors)",
                     String(format: "%.1f%%", r.ratio * 100), String(format: "%.2f", r.endToEnd.processCPUCores), String(format: "%.0f", r.maxRSSMegabytes)]
                }))
            Output.line("e2e: HTTPS with mutual TLS (a certificate per host), RC-TCB verification, SQLite IVT (WAL); in-process: the same")
            Output.line("verification and IVT writes calling the RC-TCB's region logic directly. CPU cores: this process (RC-TCB + load generator).")
            for r in rows {
                if let e = r.endToEnd.firstError { Output.line("hosts \(r.hosts), e2e, first error: \(e)") }
                if let e = r.inProcess.firstError { Output.line("hosts \(r.hosts), in-process, first error: \(e)") }
            }
            if rows.contains(where: { $0.endToEnd.errors > 0 || $0.inProcess.errors > 0 }) { throw ExitCode(1) }
        }
    }
}

/// The port the server bound, handed from its start-up callback to the command.
final class PortBox: @unchecked Sendable {
    // @unchecked Sendable: `port` is guarded by `lock`.
    let lock = NSLock()
    var port: Int?

    func set(_ p: Int) { lock.withLock { port = p } }

    func wait() async throws -> Int {
        for _ in 0..<500 {
            if let p = lock.withLock({ port }) { return p }
            try await Task.sleep(for: .milliseconds(10))
        }
        throw CommandFailure("the benchmark RC-TCB did not start")
    }
}

/// This process's peak resident set (getrusage).
enum ProcessUsage {
    static func maxRSSMegabytes() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return (Double(u.ru_maxrss) / 1024).rounded()
    }
}
