import Attestation
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOSSL
import Policy
import RegionProtocol
import TPMWire

/// What one load run measured.
public struct RegionLoadResult: Sendable, Codable {
    public var attestations: Int
    public var errors: Int
    public var seconds: Double
    public var perSecond: Double
    public var p50Milliseconds: Double
    public var p99Milliseconds: Double
    /// The first failure seen, if any (code and message).
    public var firstError: String?
    /// CPU time of this whole process (RC-TCB and load generator) per second of the run.
    public var processCPUCores: Double
}

/// BENCHMARK ONLY — the load of `bench region`: ring duty of N software-key doubles (``BenchmarkRegion``).
///
/// One attestation is what an agent's ring duty costs the RC-TCB: ask for the assignment (the RC-TCB issues a
/// nonce for the (reporter, target) pair), have the target double quote over it, and report the evidence; the
/// RC-TCB verifies it (pinned AK, nonce spent once, clock continuity, log replay, golden values) and writes the
/// IVT. It counts when the answer is `trusted`. Workers own disjoint sets of doubles, so no agent runs two
/// duties at once; latency is from asking for the assignment to the report's answer.
public enum RegionLoadGenerator {
    /// Over HTTPS with mutual TLS: each double presents its own agent certificate (its own connections).
    /// `onMeasuredRunStart` runs after the warm-up pass (every double connected once), just before the timed run.
    public static func endToEnd(_ bench: BenchmarkRegion, url: String, concurrency: Int, seconds: Double,
                                onMeasuredRunStart: @Sendable () -> Void = {}) async throws -> RegionLoadResult {
        let pool = RegionIdentityPool(trusting: bench.caCertificate)
        var tlsByHost: [String: TLSConfiguration] = [:]
        for (host, id) in bench.identities { tlsByHost[host] = pool.identity(chain: id.chain, key: id.key) }
        let tls = tlsByHost
        let empty = Data("{}".utf8)
        let step: @Sendable (SoftwareAgentDouble) async -> String? = { reporter in
            guard let tls = tls[reporter.hostId] else { return "no identity for \(reporter.hostId)" }
            do {
                let assignment: RingAssignment = try await pool.post("\(url)/v1/ring/assignment", empty, as: tls)
                guard let target = assignment.target, let nonceHex = assignment.nonce, let nonce = Hex.decode(nonceHex),
                      let double = bench.byHost[target] else { return "no assignment for \(reporter.hostId)" }
                let bundle = try double.evidence(nonce: nonce, selection: try PCRSelectionList(parsing: assignment.pcrSelection ?? ""))
                let report = AIMReport(target: target, nonce: nonceHex, outcome: .evidence, evidence: bundle)
                let result: ReportResult = try await pool.post("\(url)/v1/reports", RegionJSON.encode(report), as: tls)
                return result.state == HostState.trusted.rawValue ? nil : "\(target): \(result.state) \(result.code ?? "") \(result.detail ?? "")"
            } catch {
                return "\(error)"
            }
        }
        // Every double connects once (TLS handshake with its own certificate) before the measured run.
        _ = await run(bench.doubles, concurrency: concurrency, seconds: nil, step)
        onMeasuredRunStart()
        let result = await run(bench.doubles, concurrency: concurrency, seconds: seconds, step)
        await pool.shutdown()
        return result
    }

    /// The same ring duty calling ``RegionState`` directly: no HTTP, no TLS, no JSON.
    public static func inProcess(_ bench: BenchmarkRegion, concurrency: Int, seconds: Double) async -> RegionLoadResult {
        let region = bench.region
        let selection = region.selection
        return await run(bench.doubles, concurrency: concurrency, seconds: seconds) { reporter in
            do {
                let assignment = try await region.assignment(for: reporter.hostId)
                guard let target = assignment.target, let nonceHex = assignment.nonce, let nonce = Hex.decode(nonceHex),
                      let double = bench.byHost[target] else { return "no assignment for \(reporter.hostId)" }
                let bundle = try double.evidence(nonce: nonce, selection: selection)
                let result = try await region.intake(AIMReport(target: target, nonce: nonceHex, outcome: .evidence, evidence: bundle),
                                                     from: reporter.hostId)
                return result.state == HostState.trusted.rawValue ? nil : "\(target): \(result.state) \(result.code ?? "") \(result.detail ?? "")"
            } catch {
                return "\(error)"
            }
        }
    }

    /// Runs `step` over the doubles with `concurrency` workers, for `seconds` (nil: one pass over every double).
    static func run(_ doubles: [SoftwareAgentDouble], concurrency: Int, seconds: Double?,
                    _ step: @escaping @Sendable (SoftwareAgentDouble) async -> String?) async -> RegionLoadResult {
        let workers = max(1, min(concurrency, doubles.count))
        let clock = ContinuousClock()
        let cpu0 = processCPUSeconds()
        let start = clock.now
        let deadline = seconds.map { start + .milliseconds(Int($0 * 1000)) }
        struct Part: Sendable { var latencies: [Duration] = []; var errors = 0; var firstError: String? }
        let parts = await withTaskGroup(of: Part.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var part = Part()
                    let mine = stride(from: w, to: doubles.count, by: workers).map { doubles[$0] }
                    var i = 0
                    while true {
                        // Every worker makes at least one attestation, however late it started.
                        if let deadline { if i > 0, clock.now >= deadline { break } } else if i >= mine.count { break }
                        let t0 = clock.now
                        if let failure = await step(mine[i % mine.count]) {
                            part.errors += 1
                            if part.firstError == nil { part.firstError = failure }
                        } else {
                            part.latencies.append(clock.now - t0)
                        }
                        i += 1
                    }
                    return part
                }
            }
            var all: [Part] = []
            for await p in group { all.append(p) }
            return all
        }
        let elapsed = clock.now - start
        let cpu = processCPUSeconds() - cpu0
        let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let latencies = parts.flatMap(\.latencies).sorted()
        func ms(_ q: Double) -> Double {
            guard !latencies.isEmpty else { return 0 }
            let d = latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))]
            return (Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15).rounded(toPlaces: 2)
        }
        return RegionLoadResult(attestations: latencies.count, errors: parts.reduce(0) { $0 + $1.errors }, seconds: secs,
                                perSecond: (Double(latencies.count) / secs).rounded(), p50Milliseconds: ms(0.5), p99Milliseconds: ms(0.99),
                                firstError: parts.compactMap(\.firstError).first, processCPUCores: (cpu / secs).rounded(toPlaces: 2))
    }
}

/// User and system CPU seconds of this process (getrusage).
func processCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec) + Double(u.ru_stime.tv_usec) / 1e6
}

extension Double {
    fileprivate func rounded(toPlaces n: Int) -> Double {
        let f = pow(10, Double(n))
        return (self * f).rounded() / f
    }
}
