import Foundation
package import Logging
import RegionTCB

/// `bench region`: the RC-TCB under the ring duty of N simulated hosts (``SoftwareAgentDouble``), end to end over
/// HTTPS with mutual TLS and the SQLite IVT (the real `smig-attest rctcb serve` as a child process), against the
/// same work done in process, and the transport floor (the assignment request alone) right after.
package enum RegionBenchmark {
    package struct Row: Encodable, Sendable {
        package var hosts: Int
        package var endToEnd: RegionLoadResult
        package var inProcess: RegionLoadResult
        /// The transport floor: assignment requests alone (no evidence) over the same connections to the same
        /// RC-TCB process, right after the end-to-end run (its `attestations` count those round trips).
        package var transportFloor: RegionLoadResult
        /// End-to-end attestations/s over in-process attestations/s.
        package var ratio: Double
        /// End-to-end attestations/s over transport-floor round trips/s.
        package var ratioToFloor: Double
        /// The RC-TCB process during the end-to-end run: CPU seconds per second, peak RSS.
        package var rctcbCPUCores: Double
        package var rctcbMaxRSSMegabytes: Double
        /// CPU per end-to-end attestation, in microseconds: the RC-TCB process's and the load generator's. Less
        /// sensitive than the rates to CPU steal on a shared host.
        package var rctcbCPUMicrosecondsPerAttestation: Double
        package var loadGeneratorCPUMicrosecondsPerAttestation: Double
        /// CPU per floor round trip, in microseconds: the RC-TCB process's and the load generator's.
        package var floorRCTCBCPUMicrosecondsPerRoundTrip: Double
        package var floorLoadGeneratorCPUMicrosecondsPerRoundTrip: Double
        /// The benchmark process (load generator, and the in-process baseline): peak RSS.
        package var benchMaxRSSMegabytes: Double
    }

    package struct Report: Encodable, Sendable {
        package var benchmark = "region"
        package var build: String
        package var concurrency: Int
        package var seconds: Double
        package var rows: [Row]
    }

    /// One row per host count in `counts`; `logger` is the in-process region's.
    package static func run(counts: [Int], seconds: Double, concurrency: Int, logger: Logger) async throws -> Report {
        var rows: [Row] = []
        // One client connection per simulated host in this process (the RC-TCB process holds the other ends).
        let needed = (counts.max() ?? 0) + 1024
        let limit = DescriptorLimit.raise(toAtLeast: needed)
        guard limit >= needed else {
            throw BenchmarkError(.tooFewDescriptors, "bench region: \(counts.max() ?? 0) hosts need \(needed) open files (a connection per host); the limit is \(limit) (raise it with ulimit -n)")
        }
        for n in counts {
            rows.append(try await row(hosts: n, seconds: seconds, concurrency: concurrency, logger: logger))
        }
        return Report(build: BenchmarkBuild.name, concurrency: concurrency, seconds: seconds, rows: rows)
    }

    /// One host count: a benchmark region of `n` doubles, its RC-TCB process end to end and the floor, then the
    /// same ring duty in process.
    static func row(hosts n: Int, seconds: Double, concurrency: Int, logger: Logger) async throws -> Row {
        let rctcbCPU = CPUMark()
        let bench = try BenchmarkRegion(hosts: n, logger: logger)
        defer { bench.destroy() }
        try await bench.warmUp()
        let regionFile = try bench.writePolicy()
        let rctcb = try await BenchmarkRCTCBProcess(region: regionFile, directory: bench.directory.path)
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
        return Row(hosts: n, endToEnd: e2e, inProcess: local, transportFloor: floor,
                   ratio: local.perSecond > 0 ? (e2e.perSecond / local.perSecond * 1000).rounded() / 1000 : 0,
                   ratioToFloor: floor.perSecond > 0 ? (e2e.perSecond / floor.perSecond * 1000).rounded() / 1000 : 0,
                   rctcbCPUCores: rctcbCores, rctcbMaxRSSMegabytes: rss,
                   rctcbCPUMicrosecondsPerAttestation: cpuMicroseconds(rctcbCores, e2e.perSecond),
                   loadGeneratorCPUMicrosecondsPerAttestation: cpuMicroseconds(e2e.processCPUCores, e2e.perSecond),
                   floorRCTCBCPUMicrosecondsPerRoundTrip: cpuMicroseconds(floorCores, floor.perSecond),
                   floorLoadGeneratorCPUMicrosecondsPerRoundTrip: cpuMicroseconds(floor.processCPUCores, floor.perSecond),
                   benchMaxRSSMegabytes: ProcessUsage.maxRSSMegabytes())
    }

    /// CPU microseconds per event (an attestation, a round trip) from cores used and events per second.
    static func cpuMicroseconds(_ cores: Double, _ perSecond: Double) -> Double {
        perSecond > 0 ? (cores / perSecond * 1_000_000).rounded() : 0
    }
}
