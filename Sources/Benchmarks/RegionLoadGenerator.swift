import Attestation
import DurationUnits
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import NIOSSL
import Policy
import RegionProtocol
import RegionTCB
import TPMWire

/// What one load run measured.
package struct RegionLoadResult: Sendable, Codable {
    package var attestations: Int
    package var errors: Int
    package var seconds: Double
    package var perSecond: Double
    package var p50Milliseconds: Double
    package var p99Milliseconds: Double
    /// The first failure seen, if any (code and message).
    package var firstError: String?
    /// CPU time of this whole process (RC-TCB and load generator) per second of the run.
    package var processCPUCores: Double
    /// CPU time this machine's hypervisor gave other guests during the run, in cores (steal seconds per second,
    /// all CPUs); nil where it cannot be read. Much steal means the run got fewer cores than the machine has.
    package var stealCores: Double?
    /// CPU this whole machine spent on any process during the run, in cores (from /proc/stat); nil where it cannot
    /// be read. Beyond the benchmark's own processes it is other work sharing the machine.
    package var machineBusyCores: Double? = nil
}

/// BENCHMARK ONLY — the load of `bench region`: ring duty of N software-key doubles (``BenchmarkRegion``).
///
/// One attestation is what an agent's ring duty costs the RC-TCB: the assignment (the RC-TCB issues a nonce for
/// the (reporter, target) pair), the target double's quote over it, and the report of the evidence; the RC-TCB
/// verifies it (pinned AK, nonce spent once, clock continuity, log replay, golden values) and writes the IVT. It
/// counts when the answer is `trusted`. As the agent does, a double takes its next assignment from the answer to
/// its last report while that nonce is valid, and asks for one otherwise. Workers own disjoint sets of doubles, so
/// no agent runs two duties at once; latency is from the start of the duty (asking for the assignment, if it
/// must) to the report's answer.
package enum RegionLoadGenerator {
    /// What the end-to-end run measured, and the transport floor measured in the stretches between its own.
    package struct EndToEnd: Sendable {
        /// Attestations: ring duty with evidence, verified and written to the IVT.
        package var attestations: RegionLoadResult
        /// Round trips that carry no evidence (the assignment request alone) over the same connections to the same
        /// RC-TCB process: mutual TLS, HTTP/1.1, the agent's admission, a nonce and a small JSON answer. Nothing is
        /// verified or written, so no attestation can be faster than one of these.
        package var floor: RegionLoadResult
    }

    /// The two phases of an end-to-end run, which take turns.
    package enum Phase: Sendable, Hashable {
        case attestations
        case floor
    }

    /// The stretches each phase is cut into for `seconds` of it: one per two seconds, at least one. Taking turns
    /// in stretches of about two seconds, the two phases see the same machine: other guests' load on a shared
    /// host comes and goes over seconds, and would otherwise fall on one phase and not the other.
    package static func slices(forSeconds seconds: Double) -> Int { max(1, Int(seconds / 2)) }

    /// Over HTTPS with mutual TLS: each double presents its own agent certificate (its own connections).
    /// After a warm-up pass (every double connected once), `seconds` of attestations and `seconds` of the floor,
    /// taking turns in `slices` stretches each, attestations first; `onSlice(phase, starting)` runs just before and
    /// just after each stretch (the caller reads the RC-TCB's CPU there).
    package static func endToEnd(_ bench: BenchmarkRegion, url: String, concurrency: Int, seconds: Double, slices: Int,
                                onSlice: @Sendable (Phase, _ starting: Bool) -> Void = { _, _ in }) async throws -> EndToEnd {
        let pool = RegionIdentityPool(trusting: bench.caCertificate)
        var tlsByHost: [String: TLSConfiguration] = [:]
        for (host, id) in bench.identities { tlsByHost[host] = pool.identity(chain: id.chain, key: id.key) }
        let tls = tlsByHost
        let empty = Data("{}".utf8)
        let ask: @Sendable (TLSConfiguration) async throws -> RingAssignment = { tls in
            try await pool.post(url + RCTCBRoutes.ringAssignment.path, empty, as: tls)
        }
        if let first = bench.doubles.first, let identity = tls[first.hostId] { try await untilLeading(ask, identity) }
        let step: Step = { reporter, given in
            guard let tls = tls[reporter.hostId] else { return .failed("no identity for \(reporter.hostId)") }
            do {
                let assignment: RingAssignment
                if let given, Self.usable(given) { assignment = given } else { assignment = try await ask(tls) }
                guard let target = assignment.target, let nonceHex = assignment.nonce, let nonce = Hex.decode(nonceHex),
                      let double = bench.byHost[target] else { return .failed("no assignment for \(reporter.hostId)") }
                let bundle = try double.evidence(nonce: nonce, selection: try PCRSelectionList(parsing: assignment.pcrSelection ?? ""))
                let report = AIMReport(target: target, nonce: nonceHex, outcome: .evidence, evidence: bundle)
                let result: ReportResult = try await pool.post(url + RCTCBRoutes.reports.path, RegionJSON.encode(report), as: tls)
                return StepOutcome(result)
            } catch {
                return .failed("\(error)")
            }
        }
        // The same doubles, connections and workers; each round is the assignment request alone.
        let roundTrip: Step = { reporter, _ in
            guard let tls = tls[reporter.hostId] else { return .failed("no identity for \(reporter.hostId)") }
            do {
                return try await ask(tls).target == nil ? .failed("no assignment for \(reporter.hostId)") : StepOutcome(failure: nil)
            } catch {
                return .failed("\(error)")
            }
        }
        // Every double connects once (TLS handshake with its own certificate) before the measured run, which
        // starts in the steady state: each double holds the assignment its last report's answer carried. A floor
        // stretch leaves those assignments valid (they came with answers; the RC-TCB's bound on a reporter's open
        // nonces drops, of the floor's, only nonces that were asked for), so each attestation stretch goes on from
        // where the last one stopped.
        var (_, carried) = await run(bench.doubles, concurrency: concurrency, seconds: nil, step)
        let stretches = max(1, slices)
        let each = seconds / Double(stretches)
        var attestations: [RegionLoadTally] = []
        var floor: [RegionLoadTally] = []
        for _ in 0..<stretches {
            onSlice(.attestations, true)
            let (tally, now) = await run(bench.doubles, concurrency: concurrency, seconds: each, carrying: carried, step)
            onSlice(.attestations, false)
            attestations.append(tally)
            carried = now
            onSlice(.floor, true)
            floor.append(await run(bench.doubles, concurrency: concurrency, seconds: each, roundTrip).0)
            onSlice(.floor, false)
        }
        await pool.shutdown()
        return EndToEnd(attestations: RegionLoadTally.merged(attestations).result, floor: RegionLoadTally.merged(floor).result)
    }

    /// Waits until the RC-TCB answers an assignment rather than `rctcb.not-leader`: on a store several RC-TCBs may
    /// share (PostgreSQL) it answers agents only once it holds the region's lease, a moment after it listens.
    static func untilLeading(_ ask: @Sendable (TLSConfiguration) async throws -> RingAssignment, _ identity: TLSConfiguration,
                             seconds: Int = 120) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(seconds)
        while true {
            do {
                _ = try await ask(identity)
                return
            } catch let failure as RegionClient.Failure where failure.code == RCTCBEndpoints.notLeader && clock.now < deadline {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }

    /// The same ring duty calling ``RegionState`` directly: no HTTP, no TLS, no JSON.
    package static func inProcess(_ bench: BenchmarkRegion, concurrency: Int, seconds: Double) async -> RegionLoadResult {
        let region = bench.region
        let selection = region.selection
        let step: Step = { reporter, given in
            do {
                let assignment: RingAssignment
                if let given, Self.usable(given) { assignment = given } else { assignment = try await region.assignment(for: reporter.hostId) }
                guard let target = assignment.target, let nonceHex = assignment.nonce, let nonce = Hex.decode(nonceHex),
                      let double = bench.byHost[target] else { return .failed("no assignment for \(reporter.hostId)") }
                let bundle = try double.evidence(nonce: nonce, selection: selection)
                return StepOutcome(try await region.intake(AIMReport(target: target, nonce: nonceHex, outcome: .evidence, evidence: bundle),
                                                           from: reporter.hostId))
            } catch {
                return .failed("\(error)")
            }
        }
        // As end to end: one pass first, so the measured run starts with every double holding an assignment.
        let (_, carried) = await run(bench.doubles, concurrency: concurrency, seconds: nil, step)
        return await run(bench.doubles, concurrency: concurrency, seconds: seconds, carrying: carried, step).0.result
    }

    /// One duty of one double: the failure (nil: `trusted`) and the next assignment the answer carried.
    struct StepOutcome: Sendable {
        var failure: String?
        var next: RingAssignment?

        static func failed(_ why: String) -> Self { Self(failure: why) }

        init(failure: String?, next: RingAssignment? = nil) {
            self.failure = failure
            self.next = next
        }

        init(_ result: ReportResult) {
            failure = result.hostState == .trusted ? nil
                : "\(result.target): \(result.state) \(result.code ?? "") \(result.detail ?? "")"
            next = result.next
        }
    }

    typealias Step = @Sendable (SoftwareAgentDouble, RingAssignment?) async -> StepOutcome

    /// A carried assignment is used while its nonce has a second left (the agent's rule, with no challenge time-out here).
    static func usable(_ a: RingAssignment) -> Bool {
        (a.validUntil?.timeIntervalSinceNow ?? 0) > 1
    }

    /// Runs `step` over the doubles with `concurrency` workers, for `seconds` (nil: one pass over every double).
    /// `carrying`: each double's assignment from an earlier run; the tally comes with the assignments they hold now.
    static func run(_ doubles: [SoftwareAgentDouble], concurrency: Int, seconds: Double?, carrying: [String: RingAssignment] = [:],
                    _ step: @escaping Step) async -> (RegionLoadTally, [String: RingAssignment]) {
        let workers = max(1, min(concurrency, doubles.count))
        let clock = ContinuousClock()
        let cpu0 = ProcessUsage.cpuSeconds()
        let steal0 = CPUSteal.seconds()
        let busy0 = MachineCPU.busySeconds()
        let start = clock.now
        let deadline = seconds.map { start + .milliseconds(Int($0 * 1000)) }
        struct Part: Sendable {
            var latencies: [Duration] = []
            var errors = 0
            var firstError: String?
            var carried: [String: RingAssignment] = [:]
        }
        let parts = await withTaskGroup(of: Part.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var part = Part()
                    let mine = stride(from: w, to: doubles.count, by: workers).map { doubles[$0] }
                    var i = 0
                    var carried: [RingAssignment?] = mine.map { carrying[$0.hostId] }
                    while true {
                        // Every worker makes at least one attestation, however late it started.
                        if let deadline { if i > 0, clock.now >= deadline { break } } else if i >= mine.count { break }
                        let t0 = clock.now
                        let outcome = await step(mine[i % mine.count], carried[i % mine.count])
                        carried[i % mine.count] = outcome.next
                        if let failure = outcome.failure {
                            part.errors += 1
                            if part.firstError == nil { part.firstError = failure }
                        } else {
                            part.latencies.append(clock.now - t0)
                        }
                        i += 1
                    }
                    for (d, a) in zip(mine, carried) { part.carried[d.hostId] = a }
                    return part
                }
            }
            var all: [Part] = []
            for await p in group { all.append(p) }
            return all
        }
        let elapsed = clock.now - start
        let steal = CPUSteal.seconds()
        let busy = MachineCPU.busySeconds()
        let tally = RegionLoadTally(latencies: parts.flatMap(\.latencies), errors: parts.reduce(0) { $0 + $1.errors },
                                    firstError: parts.compactMap(\.firstError).first, seconds: elapsed.inSeconds,
                                    cpuSeconds: ProcessUsage.cpuSeconds() - cpu0,
                                    stealSeconds: steal0.flatMap { s0 in steal.map { $0 - s0 } },
                                    busySeconds: busy0.flatMap { b0 in busy.map { $0 - b0 } })
        return (tally, parts.reduce(into: [:]) { $0.merge($1.carried) { a, _ in a } })
    }
}
