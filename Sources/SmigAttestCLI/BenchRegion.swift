package import ArgumentParser
import Foundation
import Logging
import RegionTCB

/// `smig-attest bench region`: the RC-TCB under the ring duty of N simulated hosts, end to end over HTTPS with
/// mutual TLS and the SQLite IVT, against the same work done in process.
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
        SQLite IVT. Run it from a release build.
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

    struct Row: Encodable {
        var hosts: Int
        var endToEnd: RegionLoadResult
        var inProcess: RegionLoadResult
        /// End-to-end attestations/s over in-process attestations/s.
        var ratio: Double
        /// The RC-TCB process during the end-to-end run: CPU seconds per second, peak RSS.
        var rctcbCPUCores: Double
        var rctcbMaxRSSMegabytes: Double
        /// The benchmark process (load generator, and the in-process baseline): peak RSS.
        var benchMaxRSSMegabytes: Double
    }

    struct Report: Encodable {
        var benchmark = "region"
        var build: String
        var concurrency: Int
        var seconds: Double
        var rows: [Row]
    }

    package func run() async throws {
        try await Output.reportingAsync {
            var logger = Logger(label: "smig-attest.bench-region")
            logger.logLevel = .critical
            var rows: [Row] = []
            // One client connection per simulated host in this process (the RC-TCB process holds the other ends).
            let needed = (counts.max() ?? 0) + 1024
            let limit = DescriptorLimit.raise(toAtLeast: needed)
            guard limit >= needed else {
                throw CommandFailure("bench region: \(counts.max() ?? 0) hosts need \(needed) open files (a connection per host); the limit is \(limit) (raise it with ulimit -n)")
            }
            let rctcbCPU = CPUMark()
            for n in counts {
                let bench = try BenchmarkRegion(hosts: n, logger: logger)
                defer { bench.destroy() }
                try await bench.warmUp()
                let regionFile = try bench.writePolicy()
                let rctcb = try await BenchRCTCBProcess(region: regionFile, directory: bench.directory.path)
                let url = "https://127.0.0.1:\(rctcb.port)"
                let e2e: RegionLoadResult
                let cpu0 = rctcb.cpuSeconds
                do {
                    e2e = try await RegionLoadGenerator.endToEnd(bench, url: url, concurrency: concurrency, seconds: seconds,
                                                                 onMeasuredRunStart: { rctcbCPU.start(rctcb.cpuSeconds) })
                } catch {
                    await rctcb.stop()
                    throw error
                }
                let rctcbCores = e2e.seconds > 0 ? ((rctcb.cpuSeconds - rctcbCPU.started(or: cpu0)) / e2e.seconds * 100).rounded() / 100 : 0
                let rss = rctcb.maxRSSMegabytes
                await rctcb.stop()
                let local = await RegionLoadGenerator.inProcess(bench, concurrency: concurrency, seconds: seconds)
                rows.append(Row(hosts: n, endToEnd: e2e, inProcess: local,
                                ratio: local.perSecond > 0 ? (e2e.perSecond / local.perSecond * 1000).rounded() / 1000 : 0,
                                rctcbCPUCores: rctcbCores, rctcbMaxRSSMegabytes: rss,
                                benchMaxRSSMegabytes: ProcessUsage.maxRSSMegabytes()))
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
                ["hosts", "e2e att/s", "p50 ms", "p99 ms", "errors", "in-process att/s", "p50 ms", "p99 ms", "errors", "e2e/in-process", "RC-TCB CPU cores", "RC-TCB max RSS MB", "load gen. CPU cores"],
                rows.map { r in
                    ["\(r.hosts)", String(format: "%.0f", r.endToEnd.perSecond), String(format: "%.2f", r.endToEnd.p50Milliseconds),
                     String(format: "%.2f", r.endToEnd.p99Milliseconds), "\(r.endToEnd.errors)",
                     String(format: "%.0f", r.inProcess.perSecond), String(format: "%.2f", r.inProcess.p50Milliseconds),
                     String(format: "%.2f", r.inProcess.p99Milliseconds), "\(r.inProcess.errors)",
                     String(format: "%.1f%%", r.ratio * 100), String(format: "%.2f", r.rctcbCPUCores), String(format: "%.0f", r.rctcbMaxRSSMegabytes),
                     String(format: "%.2f", r.endToEnd.processCPUCores)]
                }))
            Output.line("e2e: the RC-TCB process (smig-attest rctcb serve) over HTTPS with mutual TLS (a certificate per host), its")
            Output.line("verification and SQLite IVT (WAL); in-process: the same verification and IVT writes calling the RC-TCB's region")
            Output.line("logic directly in this process. Load generator: this process (the doubles' quotes and signatures, HTTPS clients).")
            for r in rows {
                if let e = r.endToEnd.firstError { Output.line("hosts \(r.hosts), e2e, first error: \(e)") }
                if let e = r.inProcess.firstError { Output.line("hosts \(r.hosts), in-process, first error: \(e)") }
            }
            if rows.contains(where: { $0.endToEnd.errors > 0 || $0.inProcess.errors > 0 }) { throw ExitCode(1) }
        }
    }
}

/// The RC-TCB's CPU seconds when the measured run started (the warm-up pass before it is not counted).
final class CPUMark: @unchecked Sendable {
    // @unchecked Sendable: `value` is guarded by `lock`.
    let lock = NSLock()
    var value: Double?

    func start(_ v: Double) { lock.withLock { value = v } }
    func started(or fallback: Double) -> Double { lock.withLock { value } ?? fallback }
}

/// This process's peak resident set (getrusage).
enum ProcessUsage {
    static func maxRSSMegabytes() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return (Double(u.ru_maxrss) / 1024).rounded()
    }
}
