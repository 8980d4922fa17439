public import ArgumentParser
import Foundation
import Migration

/// `smig-attest bench migrate`: live-migration time and downtime for test guests of several
/// sizes between two loopback hosts, p50 over several runs, with QEMU's own figures beside ours.
public struct BenchMigrate: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Benchmark QEMU live migration of the test guest between two loopback hosts.",
        discussion: """
            For each size, starts the counting test guest on host A, lets it run, migrates it to \
            host B and resumes it there. Reported (p50 over --runs): our total (call to return), \
            QEMU's total-time and downtime (from query-migrate), the guest pause measured from \
            QEMU's own STOP (source) and RESUME (target) events, and our `cont` round trip.
            """)

    @Option(help: "Guest sizes in MiB, comma separated.") public var sizes = "64,256,512"
    @Option(help: "Runs per size.") public var runs = 5
    @Option(help: "First of 100 loopback ports to use.") public var basePort = 47800
    @Option(name: .customLong("work-dir"), help: "Scratch state directory (default: a fresh temporary one, removed after).")
    public var workDir: String?
    @Flag(name: .long, help: "Print JSON instead of a table.") public var json = false

    public init() {}

    public func validate() throws {
        guard (1...50).contains(runs) else { throw ValidationError("--runs must be 1...50") }
        guard !parsedSizes.isEmpty, parsedSizes.allSatisfy({ (16...4096).contains($0) }) else {
            throw ValidationError("--sizes must be a comma separated list of MiB in 16...4096")
        }
        guard (1024...65435).contains(basePort) else { throw ValidationError("--base-port must be 1024...65435") }
    }

    var parsedSizes: [Int] { sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    struct Row: Codable {
        var memoryMiB: Int
        var runs: Int
        var measuredTotalMsP50: Double
        var measuredTransferMsP50: Double
        var qemuTotalTimeMsP50: Double?
        var qemuDowntimeMsP50: Double?
        var guestPauseMsP50: Double?
        var resumeMsP50: Double?
        var transferredMiBP50: Double
        var samples: [MigrationReport]
    }

    struct Report: Codable {
        var benchmark = "migrate"
        var gate = MigrateCommand.gateLabel
        var qemu: String
        /// QEMU's migration bandwidth cap in bytes/s (its default unless changed).
        var maxBandwidthBytesPerSecond: UInt64?
        var accel = "tcg"
        var statistic = "p50"
        var rows: [Row]
    }

    static func p50(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    public func run() async throws {
        let fm = FileManager.default
        let dir = workDir ?? fm.temporaryDirectory.appendingPathComponent("smig-bench-\(UUID().uuidString.prefix(8))").path
        defer { if workDir == nil { try? fm.removeItem(atPath: dir) } }
        let inventory = try VMInventory(stateDirectory: dir)
        try inventory.addHost(MigrationHost(name: "bench-a", address: "127.0.0.1", portLow: basePort, portHigh: basePort + 49, stateDirectory: "\(dir)/a"))
        try inventory.addHost(MigrationHost(name: "bench-b", address: "127.0.0.1", portLow: basePort + 50, portHigh: basePort + 99, stateDirectory: "\(dir)/b"))
        let orchestrator = MigrationOrchestrator(inventory: inventory)
        let image = try TestGuest.writeImage(to: "\(dir)/test-guest.img")
        var rows: [Row] = []
        var version = "?"
        var bandwidth: UInt64?
        for size in parsedSizes {
            var samples: [MigrationReport] = []
            for run in 1...runs {
                let name = "bench-\(size)-\(run)"
                let vm = VMDescription(name: name, memoryMiB: size, bootImage: image)
                let instance = try await orchestrator.startVM(vm, on: "bench-a")
                do {
                    if version == "?", let q = try? await QMPClient.connect(path: instance.controlPath) {
                        version = q.qemuVersion
                        bandwidth = try? await q.execute("query-migrate-parameters")["max-bandwidth"]?.uint64
                        q.close()
                    }
                    try await Task.sleep(for: .milliseconds(300)) // let the guest dirty its pages
                    let report = try await orchestrator.migrate(vm: name, to: "bench-b")
                    samples.append(report)
                    try await orchestrator.stopVM(name)
                } catch {
                    _ = try? await Recovery(orchestrator: orchestrator).run()
                    try? await orchestrator.stopVM(name)
                    throw error
                }
                if !json { Output.stderr("\(size) MiB run \(run)/\(runs) done\n") }
            }
            rows.append(Row(
                memoryMiB: size, runs: runs,
                measuredTotalMsP50: Self.p50(samples.map(\.measuredTotalMs)) ?? 0,
                measuredTransferMsP50: Self.p50(samples.map(\.measuredTransferMs)) ?? 0,
                qemuTotalTimeMsP50: Self.p50(samples.compactMap { $0.final.totalTimeMs.map { Double($0) } }),
                qemuDowntimeMsP50: Self.p50(samples.compactMap { $0.final.downtimeMs.map { Double($0) } }),
                guestPauseMsP50: Self.p50(samples.compactMap(\.guestPauseMs)),
                resumeMsP50: Self.p50(samples.compactMap(\.measuredResumeMs)),
                transferredMiBP50: Self.p50(samples.map { Double($0.final.transferredBytes) / 1_048_576 }) ?? 0,
                samples: samples))
        }
        let output = Report(qemu: version, maxBandwidthBytesPerSecond: bandwidth, rows: rows)
        if json {
            print(try Output.jsonString(output))
            return
        }
        let f = { (v: Double?) in v.map { String(format: "%.1f", $0) } ?? "-" }
        let cap = bandwidth.map { "\($0 >> 20) MiB/s" } ?? "?"
        print("bench migrate: QEMU \(version), TCG, loopback, QEMU bandwidth cap \(cap), p50 of \(runs) runs, times in ms (\(MigrateCommand.gateLabel))")
        print(Output.table(
            ["MEMORY", "TOTAL(ours)", "TRANSFER(ours)", "TOTAL(qemu)", "DOWNTIME(qemu)", "GUEST PAUSE(events)", "RESUME(cont)", "SENT MiB"],
            rows.map { ["\($0.memoryMiB) MiB", f($0.measuredTotalMsP50), f($0.measuredTransferMsP50), f($0.qemuTotalTimeMsP50),
                        f($0.qemuDowntimeMsP50), f($0.guestPauseMsP50), f($0.resumeMsP50), f($0.transferredMiBP50)] }))
    }
}
