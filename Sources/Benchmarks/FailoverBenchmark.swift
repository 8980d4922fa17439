import ChildProcesses
import Foundation
#if canImport(Glibc)
import Glibc
#endif
package import Logging
import Migration
import RegionStorePostgres
import RegionTCB
import PostgresLab
import DurationUnits
import BuiltInGuests
import TPMWire

/// `bench failover`: how soon a region whose leader RC-TCB is lost acts again. Each run starts a fresh region in
/// PostgreSQL (a throwaway cluster, or `--store-url`) with two or three real `rctcb serve` processes sharing it,
/// and a real QEMU guest (the ticker) on host-1 in the region's inventory in the store. BENCHMARK ONLY: the three hosts
/// are enrolled with the AK of a ``SoftwareAgentDouble`` (no TPM, no EK certificate) and are silent (nothing
/// listens at their quote endpoints), so the leader challenges them every round and each challenge is an
/// immediate `unreachable` verdict; the region is throwaway. Once the leader has judged the enrolled hosts, it is
/// sent a signal, and host-1 is revoked at once (an operator's write: untrusted, so its VM is due for evacuation). Measured from the signal, on the RC-TCBs' own timestamps in the store:
/// (a) the new leader's first verdict (a host row written after the signal, host-1's excepted), and (b) its first
/// evacuation step (`evacuation.started` of host-1). Every run does this twice: SIGKILL (the lease must run out)
/// and, as the baseline, SIGTERM (the leader gives the lease up).
package enum FailoverBenchmark {
    package struct Options: Sendable {
        package var runs: Int
        package var rctcbs: Int
        package var lease: Duration
        /// A database to run in (each run a region of its own); nil: a throwaway cluster.
        package var storeURL: String?
        package init(runs: Int, rctcbs: Int, lease: Duration, storeURL: String?) {
            (self.runs, self.rctcbs, self.lease, self.storeURL) = (runs, rctcbs, lease, storeURL)
        }
    }

    /// How the leader is lost.
    package enum Departure: String, Encodable, Sendable, CaseIterable {
        /// SIGKILL: the lease runs out.
        case killed
        /// SIGTERM: the leader gives the lease up (the baseline).
        case stopped

        var signal: Int32 { self == .killed ? SIGKILL : SIGTERM }
        package var label: String { self == .killed ? "leader SIGKILLed (lease runs out)" : "leader SIGTERMed (lease released)" }
    }

    package struct Trial: Encodable, Sendable {
        package var run: Int
        package var departure: Departure
        /// Seconds from the signal to the new leader's first verdict.
        package var firstVerdict: Double
        /// Seconds from the signal to the new leader's first evacuation step.
        package var firstEvacuationStep: Double
    }

    package struct Spread: Encodable, Sendable {
        package var p50: Double
        package var p99: Double
        package var max: Double

        /// Nearest-rank percentiles of `seconds` (not empty).
        init(_ seconds: [Double]) {
            let s = seconds.sorted()
            (p50, p99, max) = (nearestRank(s, 0.5), nearestRank(s, 0.99), s[s.count - 1])
        }
    }

    package struct Row: Encodable, Sendable {
        package var departure: Departure
        package var runs: Int
        package var firstVerdict: Spread
        package var firstEvacuationStep: Spread
    }

    package struct Report: Encodable, Sendable {
        package var benchmark = "failover"
        package var build: String
        package var rctcbs: Int
        package var hosts: Int
        package var leaseSeconds: Double
        package var targetSeconds: Double
        /// Whether p99 of both measurements after a SIGKILL is under the target.
        package var targetMet: Bool
        package var rows: [Row]
        package var trials: [Trial]
    }

    static let hosts = ["host-1", "host-2", "host-3"]
    package static let target = Duration.seconds(5)

    package static func run(_ options: Options, logger: Logger) async throws -> Report {
        let cluster: PostgresCluster? = options.storeURL == nil ? try await PostgresCluster.start() : nil
        let url = options.storeURL ?? cluster?.url ?? ""
        var trials: [Trial] = []
        do {
            for run in 1...options.runs {
                for departure in Departure.allCases {
                    trials.append(try await trial(run: run, departure: departure, url: url, options: options, logger: logger))
                }
            }
        } catch {
            await cluster?.destroy()
            throw error
        }
        await cluster?.destroy()
        let rows = Departure.allCases.map { d in
            let mine = trials.filter { $0.departure == d }
            return Row(departure: d, runs: mine.count, firstVerdict: Spread(mine.map(\.firstVerdict)),
                       firstEvacuationStep: Spread(mine.map(\.firstEvacuationStep)))
        }
        let killed = rows.first { $0.departure == .killed }
        let limit = target.inSeconds
        return Report(build: BenchmarkBuild.name, rctcbs: options.rctcbs, hosts: hosts.count,
                      leaseSeconds: options.lease.inSeconds,
                      targetSeconds: limit,
                      targetMet: killed.map { $0.firstVerdict.p99 < limit && $0.firstEvacuationStep.p99 < limit } ?? false,
                      rows: rows, trials: trials)
    }

    /// One region, its RC-TCBs started, its leader lost by `departure`, and both measurements taken.
    static func trial(run: Int, departure: Departure, url: String, options: Options, logger: Logger) async throws -> Trial {
        let name = "failover-\(run)-\(departure.rawValue)-\(UUID().uuidString.prefix(8).lowercased())"
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-bench-\(name)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let regionFile = try prepare(name, in: dir, rctcbs: options.rctcbs)
        let store = try await PostgresRegionStore.open(url: url, region: name, logger: logger)
        defer { stopGuests(under: "\(dir)/hosts") }
        var processes: [BenchmarkRCTCBProcess] = []
        do {
            // The region's VM inventory is in the store, shared by its RC-TCBs; written here as the operator's
            // `vm host add … --store` writes it.
            let inventory = try await store.vmInventory(.operator)
            for (i, h) in hosts.enumerated() {
                try await inventory.addHost(MigrationHost(name: h, address: "127.0.0.1", portLow: 49152 + 4 * i, portHigh: 49155 + 4 * i,
                                                          stateDirectory: "\(dir)/hosts/\(h)"))
            }
            let image = try TestGuest.writeImage(to: "\(dir)/ticker-guest.img", kind: .ticker)
            _ = try await MigrationOrchestrator(inventory: inventory).startVM(VMDescription(name: "vm-1", memoryMiB: 32, bootImage: image), on: hosts[0])
            let lease = String(options.lease.inSeconds)
            for i in 1...options.rctcbs {
                processes.append(try await BenchmarkRCTCBProcess(region: regionFile, directory: "\(dir)/rctcb-\(i)",
                                                                 extra: ["--store", url, "--lease", lease]))
            }
            try await waitFor("leader with the region's hosts", processes, seen: { "" }) {
                let live = try await store.currentLease()?.live == true
                guard live else { return false }
                return try await store.rows().count == hosts.count
            }
            let enrolled = Date()
            for h in hosts {
                let double = try SoftwareAgentDouble(hostId: h, measurementName: "file:/benchmark/hypervisor", measurement: [UInt8](repeating: 0xab, count: 32))
                try await store.recordEnrolment(host: h, akPublic: double.akPublic, akName: Hex.encode(double.akName),
                                                ekCertificate: "none (benchmark double, no TPM)", ekName: nil, ekCertificateSHA256: nil, now: enrolled)
            }
            // The leader, once it has judged every enrolled host (silent: unreachable): the region is running.
            var leader: (lease: LeaderLease, process: BenchmarkRCTCBProcess)?
            try await waitFor("leader that judged every host", processes, seen: { "" }) {
                guard let current = try await store.currentLease(), current.live,
                      let p = processes.first(where: { current.lease.holder.hasPrefix("rctcb pid \($0.process.processIdentifier) ") }) else { return false }
                leader = (current.lease, p)
                return try await store.rows().allSatisfy { $0.state == .unreachable && $0.updatedAt > enrolled }
            }
            guard let leader else { throw BenchmarkError(.noFailover, "no leader") }

            kill(leader.process.process.processIdentifier, departure.signal)
            let signalled = Date()
            try await store.revoke(host: hosts[0], now: Date())
            var verdict: Date?
            var evacuation: Date?
            try await waitFor("new leader's first verdict and evacuation step", processes, seen: {
                let kinds = ((try? await store.events(since: 0, host: hosts[0], limit: 10_000)) ?? []).map(\.kind)
                return "verdict \(verdict.map { "\($0)" } ?? "none"), evacuation \(evacuation.map { "\($0)" } ?? "none"); host-1's events: \(kinds)"
            }) {
                if verdict == nil {
                    verdict = try await store.rows().filter { $0.host != hosts[0] && $0.updatedAt > signalled }.map(\.updatedAt).min()
                }
                if evacuation == nil {
                    evacuation = try await store.events(since: 0, host: hosts[0], limit: 10_000)
                        .first { $0.kind == "evacuation.started" && $0.at > signalled }?.at
                }
                return verdict != nil && evacuation != nil
            }
            guard let verdict, let evacuation, let now = try await store.currentLease(), now.lease.epoch > leader.lease.epoch else {
                throw BenchmarkError(.noFailover, "\(name): the region acted again without a new leader")
            }
            for p in processes { await p.stop() }
            await store.close()
            return Trial(run: run, departure: departure, firstVerdict: round(verdict.timeIntervalSince(signalled)),
                         firstEvacuationStep: round(evacuation.timeIntervalSince(signalled)))
        } catch {
            for p in processes { await p.stop() }
            await store.close()
            throw error
        }
    }

    /// The region's policy (three silent hosts), its RC-TCB directories (one made as `rctcb init` makes it, copied
    /// for the others, as an operator copies it to each machine).
    static func prepare(_ name: String, in dir: String, rctcbs: Int) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let first = "\(dir)/rctcb-1"
        try RegionSetup.initialise(RegionDirectory(first), .init(regionName: name, hosts: hosts.map { ($0, "127.0.0.1", nil) }, policyDigest: "",
                                                                 ekCertificateAuthorities: [], serverNames: ["localhost", "127.0.0.1"], force: false))
        for i in stride(from: 2, through: rctcbs, by: 1) { try FileManager.default.copyItem(atPath: first, toPath: "\(dir)/rctcb-\(i)") }
        let golden = "kind: golden-values\nversion: 1\nname: failover\nmeasurements:\n  file:/benchmark/hypervisor:\n" +
            "    sha256: [\(String(repeating: "ab", count: 32))]\n    required: true\n"
        try Data(golden.utf8).write(to: URL(fileURLWithPath: "\(dir)/golden.yaml"))
        // Port 1 of a loopback address of its own: nothing listens, so a challenge is refused at once.
        var yaml = "kind: region\nversion: 1\nname: \(name)\nrc-tcb: {address: 127.0.0.1, port: 8443}\nhosts:\n"
        for (i, h) in hosts.enumerated() { yaml += "  - {id: \(h), address: 127.0.3.\(i + 1), port: 1, golden: golden.yaml}\n" }
        yaml += "ring: [\(hosts.joined(separator: ", "))]\nintervals: {measurement: 1s, challenge: 1s}\nquote-freshness: 30s\nunreachable-timeout: 1s\n"
        yaml += "on-state: {untrusted: evacuate, unreachable: none, stale: challenge, rebooted: reattest, unknown: challenge}\n"
        let region = "\(dir)/region.yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: region))
        return region
    }

    /// Polls `condition` every 50 ms for up to two minutes; an RC-TCB process that exits meanwhile is not waited for.
    /// Stops the benchmark's QEMU guests (every `*.pid` under the hosts' state directories).
    static func stopGuests(under dir: String) {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return }
        for case let path as String in e where path.hasSuffix(".pid") {
            guard let text = try? String(contentsOfFile: "\(dir)/\(path)", encoding: .utf8),
                  let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 else { continue }
            kill(pid, SIGKILL)
        }
    }

    /// `seen`: what was seen instead, for the error.
    static func waitFor(_ what: String, _ processes: [BenchmarkRCTCBProcess], seen: () async -> String,
                        _ condition: () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        let logs = processes.map { ((try? String(contentsOfFile: $0.log, encoding: .utf8)) ?? "").suffix(1500) }.joined(separator: "\n---\n")
        throw BenchmarkError(.noFailover, "no \(what) within 120 s; \(await seen())\nRC-TCB logs:\n\(logs)")
    }

    static func round(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }
}
