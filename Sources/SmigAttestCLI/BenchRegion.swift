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

    struct Row: Encodable {
        var hosts: Int
        var endToEnd: RegionLoadResult
        var inProcess: RegionLoadResult
        /// The transport floor: assignment requests alone (no evidence) over the same connections to the same
        /// RC-TCB process, right after the end-to-end run (its `attestations` count those round trips).
        var transportFloor: RegionLoadResult
        /// End-to-end attestations/s over in-process attestations/s.
        var ratio: Double
        /// End-to-end attestations/s over transport-floor round trips/s.
        var ratioToFloor: Double
        /// The RC-TCB process during the end-to-end run: CPU seconds per second, peak RSS.
        var rctcbCPUCores: Double
        var rctcbMaxRSSMegabytes: Double
        /// CPU per end-to-end attestation, in microseconds: the RC-TCB process's and the load generator's. Less
        /// sensitive than the rates to CPU steal on a shared host.
        var rctcbCPUMicrosecondsPerAttestation: Double
        var loadGeneratorCPUMicrosecondsPerAttestation: Double
        /// CPU per floor round trip, in microseconds: the RC-TCB process's and the load generator's.
        var floorRCTCBCPUMicrosecondsPerRoundTrip: Double
        var floorLoadGeneratorCPUMicrosecondsPerRoundTrip: Double
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
            for n in counts {
                let rctcbCPU = CPUMark()
                let bench = try BenchmarkRegion(hosts: n, logger: logger)
                defer { bench.destroy() }
                try await bench.warmUp()
                let regionFile = try bench.writePolicy()
                let rctcb = try await BenchRCTCBProcess(region: regionFile, directory: bench.directory.path)
                let url = "https://127.0.0.1:\(rctcb.port)"
                let run: RegionLoadGenerator.EndToEnd
                let cpu0 = rctcb.cpuSeconds
                do {
                    run = try await RegionLoadGenerator.endToEnd(bench, url: url, concurrency: concurrency, seconds: seconds, floorSeconds: seconds,
                                                                 onMeasuredRunStart: { rctcbCPU.start(rctcb.cpuSeconds) },
                                                                 onMeasuredRunEnd: { rctcbCPU.end(rctcb.cpuSeconds) })
                } catch {
                    await rctcb.stop()
                    throw error
                }
                let e2e = run.attestations
                let floor = run.floor
                let rctcbCores = e2e.seconds > 0 ? (rctcbCPU.used(or: cpu0) / e2e.seconds * 100).rounded() / 100 : 0
                // The floor run follows the measured run directly: the RC-TCB's CPU from its end to now.
                let floorCores = floor.seconds > 0 ? (rctcb.cpuSeconds - rctcbCPU.ended(or: cpu0)) / floor.seconds : 0
                let rss = rctcb.maxRSSMegabytes
                await rctcb.stop()
                let local = await RegionLoadGenerator.inProcess(bench, concurrency: concurrency, seconds: seconds)
                rows.append(Row(hosts: n, endToEnd: e2e, inProcess: local, transportFloor: floor,
                                ratio: local.perSecond > 0 ? (e2e.perSecond / local.perSecond * 1000).rounded() / 1000 : 0,
                                ratioToFloor: floor.perSecond > 0 ? (e2e.perSecond / floor.perSecond * 1000).rounded() / 1000 : 0,
                                rctcbCPUCores: rctcbCores, rctcbMaxRSSMegabytes: rss,
                                rctcbCPUMicrosecondsPerAttestation: Self.cpuMicroseconds(rctcbCores, e2e.perSecond),
                                loadGeneratorCPUMicrosecondsPerAttestation: Self.cpuMicroseconds(e2e.processCPUCores, e2e.perSecond),
                                floorRCTCBCPUMicrosecondsPerRoundTrip: Self.cpuMicroseconds(floorCores, floor.perSecond),
                                floorLoadGeneratorCPUMicrosecondsPerRoundTrip: Self.cpuMicroseconds(floor.processCPUCores, floor.perSecond),
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

extension BenchRegion {
    /// CPU microseconds per event (an attestation, a round trip) from cores used and events per second.
    static func cpuMicroseconds(_ cores: Double, _ perSecond: Double) -> Double {
        perSecond > 0 ? (cores / perSecond * 1_000_000).rounded() : 0
    }
}

/// The RC-TCB's CPU seconds when the measured run started and ended (the warm-up pass before it and the floor
/// run after it are not counted).
final class CPUMark: @unchecked Sendable {
    // @unchecked Sendable: `startCPU` and `endCPU` are guarded by `lock`.
    let lock = NSLock()
    var startCPU: Double?
    var endCPU: Double?

    func start(_ v: Double) { lock.withLock { startCPU = v } }
    func end(_ v: Double) { lock.withLock { endCPU = v } }
    /// CPU seconds when the measured run ended (`fallback` when no end was marked).
    func ended(or fallback: Double) -> Double { lock.withLock { endCPU } ?? fallback }
    /// CPU seconds between start and end (`fallback`: the start when none was marked; 0 when no end was).
    func used(or fallback: Double) -> Double {
        lock.withLock { endCPU.map { $0 - (startCPU ?? fallback) } ?? 0 }
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
