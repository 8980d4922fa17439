import Foundation
import Migration
import RegionLab
import RegionTCB

/// `bench response`: from a compromised hypervisor to its VM running on a re-attested host, on a loopback region
/// (``LoopbackRegion``) with one ticker guest, over the push path and the challenge-only path (the baseline); with
/// ``Options/namespaces``, in the same run also on separate libvirt hosts in namespaces (``NamespaceRegion``) with one
/// libvirt guest moved by orders to the agents, over the push path.
package enum ResponseBenchmark {
    package struct Options: Sendable {
        package var trials = 20
        package var hosts = 3
        package var memoryMiB = 64
        /// Seconds between ring challenges (the challenge-only path's detection interval).
        package var challengeInterval = 1.0
        /// Also run the namespace lab's push path (libvirt hosts in namespaces, agents carrying the migration).
        package var namespaces = false
        package init() {}
    }

    package struct Trial: Codable, Sendable {
        package var path: String
        package var compromised: String
        package var target: String
        package var detectionMs: Double
        package var migrationStartMs: Double
        package var resumedMs: Double
    }

    package struct Row: Codable, Sendable {
        package var path: String
        package var trials: Int
        package var compromiseToDetection: [String: Double]
        package var detectionToMigrationStart: [String: Double]
        package var migrationStartToResumed: [String: Double]
        package var compromiseToMigrationStart: [String: Double]
        package var compromiseToResumed: [String: Double]
    }

    package struct Report: Codable, Sendable {
        package var benchmark = "response"
        /// The labs the rows come from: "loopback", and "namespaces" when asked for.
        package var labs: [String]
        package var hosts: Int
        package var guestMemoryMiB: Int
        package var rows: [Row]
        package var trials: [Trial]
    }

    static let vm = "bench-vm"
    static let paths = ["push", "challenge-only"]
    /// The namespace lab's path: push, libvirt guest, migration by orders to the agents.
    static let namespacePath = "namespaces push"

    /// Every trial of both paths. `say` hears the region's progress, `onTrial` each trial (number, figures) as it ends.
    package static func run(_ options: Options, say: @escaping @Sendable (String) -> Void,
                            onTrial: (_ number: Int, Trial) -> Void) async throws -> Report {
        var lab = LoopbackRegion.Options(binary: OwnExecutable.path)
        lab.hosts = options.hosts
        lab.vmsPerHost = 0
        lab.measurementInterval = 0.1
        lab.challengeInterval = options.challengeInterval
        let region = try LoopbackRegion(lab, say: say)
        defer { region.stop() }
        try await region.start()
        try await region.startVM(vm, on: region.hosts[0].id, memoryMiB: options.memoryMiB)
        let store = try region.store()
        var all: [Trial] = []
        for path in paths {
            if path == "challenge-only" {
                try region.setPush(false)
                try await region.waitUntil("every host trusted", seconds: 60) { try store.rows().allSatisfy { $0.state == .trusted } }
            }
            all += try await trials(options.trials, path: path, region: region, store: store, onTrial: onTrial)
        }
        region.stop()
        if options.namespaces {
            var lab = NamespaceRegion.Options(binary: OwnExecutable.path)
            lab.hosts = options.hosts
            lab.measurementInterval = 0.1
            lab.challengeInterval = options.challengeInterval
            let namespaced = try NamespaceRegion(lab, say: say)
            defer { namespaced.stop() }
            try await namespaced.start()
            try await namespaced.defineGuest(vm, on: namespaced.hosts[0].id, memoryMiB: options.memoryMiB)
            try await namespaced.waitUntilAdopted(count: 1)
            all += try await trials(options.trials, path: namespacePath, region: namespaced, store: try namespaced.store(), onTrial: onTrial)
        }
        let paths = Self.paths + (options.namespaces ? [namespacePath] : [])
        let rows = paths.map { path -> Row in
            let t = all.filter { $0.path == path }
            return Row(path: path, trials: t.count,
                       compromiseToDetection: stats(t.map(\.detectionMs)),
                       detectionToMigrationStart: stats(t.map { $0.migrationStartMs - $0.detectionMs }),
                       migrationStartToResumed: stats(t.map { $0.resumedMs - $0.migrationStartMs }),
                       compromiseToMigrationStart: stats(t.map(\.migrationStartMs)),
                       compromiseToResumed: stats(t.map(\.resumedMs)))
        }
        return Report(labs: ["loopback"] + (options.namespaces ? ["namespaces"] : []), hosts: options.hosts, guestMemoryMiB: options.memoryMiB, rows: rows, trials: all)
    }

    /// `count` trials on `region`, each followed by the repair of the compromised host and its re-attestation.
    static func trials(_ count: Int, path: String, region: any DemoRegion, store: IVTStore,
                       onTrial: (_ number: Int, Trial) -> Void) async throws -> [Trial] {
        var all: [Trial] = []
        for n in 1...count {
            let (trial, index) = try await self.trial(n, path: path, region: region, store: store)
            all.append(trial)
            onTrial(n, trial)
            // The compromised host comes back as a freshly booted one before the next trial.
            try await region.repair(index)
            try await region.waitUntil("\(trial.compromised) trusted again", seconds: 60) { try store.row(trial.compromised)?.state == .trusted }
            try await region.waitUntil("every host trusted", seconds: 60) { try store.rows().allSatisfy { $0.state == .trusted } }
        }
        return all
    }

    /// One trial: compromise the guest's host and read the audit trail until the guest resumes elsewhere. Returns
    /// the trial and the index of the compromised host.
    static func trial(_ n: Int, path: String, region: any DemoRegion, store: IVTStore) async throws -> (Trial, Int) {
        let source = try region.inventory().vm(named: vm).host
        guard let index = region.hostIDs.firstIndex(of: source) else {
            throw BenchmarkError(.guestLost, "\(vm) is on an unknown host \(source)")
        }
        let since = try store.lastEventSeq()
        let t0 = try region.compromise(index)
        var detection: Date?, start: Date?, resumed: Date?, target = "?"
        let deadline = Date().addingTimeInterval(60)
        var seen = since
        while resumed == nil, Date() < deadline {
            for e in try store.events(since: seen) {
                seen = e.seq
                if e.kind == "state", e.host == source, e.newHostState == .untrusted, detection == nil { detection = e.at }
                guard let step = e.evacuationStep, let fields = e.evacuation, fields.vm == vm else { continue }
                if step == .migrationStarted { start = e.at; target = fields.target ?? "?" }
                if step == .resumed { resumed = e.at; target = fields.target ?? target }
            }
            if resumed == nil { try await Task.sleep(for: .milliseconds(20)) }
        }
        guard let detection, let start, let resumed else {
            throw BenchmarkError(.noResponse, "trial \(n) (\(path)): no complete response within 60 s (logs in \(region.dir))")
        }
        let ms = { (d: Date) in d.timeIntervalSince(t0) * 1000 }
        return (Trial(path: path, compromised: source, target: target, detectionMs: ms(detection), migrationStartMs: ms(start),
                      resumedMs: ms(resumed)), index)
    }

    /// p50 and p99 (nearest rank).
    static func stats(_ values: [Double]) -> [String: Double] {
        guard !values.isEmpty else { return [:] }
        let s = values.sorted()
        return ["p50": nearestRank(s, 0.5), "p99": nearestRank(s, 0.99)]
    }
}
