package import ArgumentParser
import Foundation
import Migration
import RegionLab
import RegionTCB

/// `smig-attest bench response`: from a compromised hypervisor to its VM running on a re-attested host.
package struct BenchResponse: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "response",
        abstract: "Benchmark the rapid response: compromise → detection → migration start → VM resumed on a re-attested target.",
        discussion: """
            Brings up a loopback region (see `smig-attest demo`) with one ticker guest. Each trial writes into \
            the code of the hypervisor process of the host the guest runs on, and reads the RC-TCB's audit \
            trail for: the host turning untrusted (detection), the migration starting (after the target's \
            challenge), and the guest resuming on the target (after its re-attestation). The host is then \
            repaired (new hypervisor process, TPM reset, new measurement log) and re-attested before the next \
            trial. The push path (agents push a notice on a measurement change) and the challenge-only path \
            (only the ring's challenges, every --challenge-interval) run in the same run; the challenge-only \
            path is the baseline. p50 and p99 in ms.
            """)

    @Option(help: "Trials per path (at least 20 for the published figures).") var trials = 20
    @Option(help: "Hosts in the region (3-8).") var hosts = 3
    @Option(help: "Guest memory in MiB.") var memory = 64
    @Option(help: "Seconds between ring challenges (the challenge-only path's detection interval).") var challengeInterval = 1.0
    @Flag(help: "Print JSON instead of a table.") var json = false

    package init() {}

    package func validate() throws {
        guard (1...1000).contains(trials) else { throw ValidationError("--trials must be 1-1000") }
        guard (3...8).contains(hosts) else { throw ValidationError("--hosts must be 3-8") }
    }

    struct Trial: Codable {
        var path: String
        var compromised: String
        var target: String
        var detectionMs: Double
        var migrationStartMs: Double
        var resumedMs: Double
    }

    struct Row: Codable {
        var path: String
        var trials: Int
        var compromiseToDetection: [String: Double]
        var detectionToMigrationStart: [String: Double]
        var migrationStartToResumed: [String: Double]
        var compromiseToMigrationStart: [String: Double]
        var compromiseToResumed: [String: Double]
    }

    struct Report: Codable {
        var benchmark = "response"
        var hosts: Int
        var guestMemoryMiB: Int
        var rows: [Row]
        var trials: [Trial]
    }

    package func run() async throws {
        let binary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var options = LoopbackRegion.Options(binary: binary)
        options.hosts = hosts
        options.vmsPerHost = 0
        options.measurementInterval = 0.1
        options.challengeInterval = challengeInterval
        let quiet = json
        let region = try LoopbackRegion(options) { if !quiet { Output.stderr("== \($0)\n") } }
        defer { region.stop() }
        try await region.start()
        try await region.startVM("bench-vm", on: region.hosts[0].id, memoryMiB: memory)
        let store = try region.store()
        let inventory = try region.inventory()
        var all: [Trial] = []
        for path in ["push", "challenge-only"] {
            if path == "challenge-only" {
                try region.setPush(false)
                try await region.waitUntil("every host trusted", seconds: 60) { try store.rows().allSatisfy { $0.state == .trusted } }
            }
            for n in 1...trials {
                let source = try inventory.vm(named: "bench-vm").host
                guard let index = region.hosts.firstIndex(where: { $0.id == source }) else { throw ValidationError("bench-vm is on an unknown host \(source)") }
                let since = try store.lastEventSeq()
                let t0 = try region.compromise(index)
                var detection: Date?, start: Date?, resumed: Date?, target = "?"
                let deadline = Date().addingTimeInterval(60)
                var seen = since
                while resumed == nil, Date() < deadline {
                    for e in try store.events(since: seen) {
                        seen = e.seq
                        if e.kind == "state", e.host == source, e.newState == "untrusted", detection == nil { detection = e.at }
                        if e.kind == "evacuation.migration-started", e.detail?.hasPrefix("bench-vm:") == true { start = e.at; target = e.host ?? "?" }
                        if e.kind == "evacuation.resumed", e.detail?.hasPrefix("bench-vm ") == true { resumed = e.at; target = e.host ?? target }
                    }
                    if resumed == nil { try await Task.sleep(for: .milliseconds(20)) }
                }
                guard let detection, let start, let resumed else {
                    throw ValidationError("trial \(n) (\(path)): no complete response within 60 s (logs in \(region.dir))")
                }
                let ms = { (d: Date) in d.timeIntervalSince(t0) * 1000 }
                all.append(Trial(path: path, compromised: source, target: target, detectionMs: ms(detection), migrationStartMs: ms(start), resumedMs: ms(resumed)))
                if !json { Output.stderr(String(format: "%@ trial %d: %@ → %@, detected %.0f ms, migration started %.0f ms, resumed %.0f ms\n", path, n, source, target, ms(detection), ms(start), ms(resumed))) }
                // The compromised host comes back as a freshly booted one before the next trial.
                try await region.repair(index)
                try await region.waitUntil("\(source) trusted again", seconds: 60) { try store.row(source)?.state == .trusted }
                try await region.waitUntil("every host trusted", seconds: 60) { try store.rows().allSatisfy { $0.state == .trusted } }
            }
        }
        let rows = ["push", "challenge-only"].map { path -> Row in
            let t = all.filter { $0.path == path }
            return Row(path: path, trials: t.count,
                       compromiseToDetection: Self.stats(t.map(\.detectionMs)),
                       detectionToMigrationStart: Self.stats(t.map { $0.migrationStartMs - $0.detectionMs }),
                       migrationStartToResumed: Self.stats(t.map { $0.resumedMs - $0.migrationStartMs }),
                       compromiseToMigrationStart: Self.stats(t.map(\.migrationStartMs)),
                       compromiseToResumed: Self.stats(t.map(\.resumedMs)))
        }
        if json { Output.json(Report(hosts: hosts, guestMemoryMiB: memory, rows: rows, trials: all)); return }
        let f = { (s: [String: Double]) in String(format: "%.0f / %.0f", s["p50"] ?? 0, s["p99"] ?? 0) }
        Output.line("bench response: \(hosts) hosts on loopback, \(memory) MiB ticker guest, \(trials) trials per path; p50 / p99 in ms (challenge-only is the baseline)")
        Output.line(Output.table(["PATH", "COMPROMISE→DETECTION", "DETECTION→MIGRATION START", "MIGRATION START→RESUMED", "COMPROMISE→MIGRATION START", "COMPROMISE→RESUMED"],
                                 rows.map { [$0.path, f($0.compromiseToDetection), f($0.detectionToMigrationStart), f($0.migrationStartToResumed), f($0.compromiseToMigrationStart), f($0.compromiseToResumed)] }))
    }

    /// p50 and p99 (nearest rank).
    static func stats(_ values: [Double]) -> [String: Double] {
        guard !values.isEmpty else { return [:] }
        let s = values.sorted()
        let rank = { (p: Double) in s[min(s.count - 1, max(0, Int((p * Double(s.count)).rounded(.up)) - 1))] }
        return ["p50": rank(0.5), "p99": rank(0.99)]
    }
}
