package import ArgumentParser
import Benchmarks
import Foundation
import Migration

/// `smig-attest bench migrate`: live-migration time and downtime for test guests of several
/// sizes between two loopback hosts, p50 over several runs, with QEMU's own figures beside ours
/// (``MigrateBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchMigrate: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Benchmark QEMU live migration of the test guest between two loopback hosts.",
        discussion: """
            For each size and run, the counting test guest moves from host A to host B three ways, \
            interleaved: bare QMP at QEMU's defaults, bare QMP with the evacuation parameters, and \
            smig-attest's orchestrator with the same parameters (every step committed to its inventory). \
            Reported (p50 over --runs): time from the decision to move (target launch included) to the VM \
            running on the target, QEMU's total-time and downtime, and smig-attest's ratio to tuned QMP.
            """)

    @Option(help: "Guest sizes in MiB, comma separated.") package var sizes = "64,256,512"
    @Option(help: "Runs per size.") package var runs = 5
    @Option(help: "First of 100 loopback ports to use.") package var basePort = 29800
    @Option(name: .customLong("work-dir"), help: "Scratch state directory (default: a fresh temporary one, removed after).")
    package var workDir: String?
    @Flag(name: .long, help: "Print JSON instead of a table.") package var json = false

    package init() {}

    package func validate() throws {
        guard (1...50).contains(runs) else { throw ValidationError("--runs must be 1...50") }
        guard !parsedSizes.isEmpty, parsedSizes.allSatisfy({ (16...4096).contains($0) }) else {
            throw ValidationError("--sizes must be a comma separated list of MiB in 16...4096")
        }
        guard (1024...65435).contains(basePort) else { throw ValidationError("--base-port must be 1024...65435") }
    }

    var parsedSizes: [Int] { sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    package func run() async throws {
        let quiet = json
        let report = try await MigrateBenchmark.run(sizes: parsedSizes, runs: runs, basePort: basePort, workDirectory: workDir) { line in
            if !quiet { Output.stderr(line + "\n") }
        }
        if json {
            print(try Output.jsonString(report))
            return
        }
        let tuning = report.tuning
        let f = { (v: Double?) in v.map { String(format: "%.1f", $0) } ?? "-" }
        print("bench migrate: QEMU \(report.qemu), TCG, loopback, p50 of \(runs) runs, ms from the decision to move (target launch included) to the VM running on the target")
        print("tuned = max-bandwidth \((tuning.maxBandwidthBytesPerSecond ?? 0) >> 20) MiB/s, downtime-limit \(tuning.downtimeLimitMs ?? 0) ms, auto-converge \(tuning.autoConverge)")
        print(Output.table(
            ["MEMORY", "MODE", "TOTAL", "TOTAL(qemu)", "DOWNTIME(qemu)", "RATIO TO TUNED QMP"],
            report.rows.map { ["\($0.memoryMiB) MiB", $0.mode.rawValue, f($0.totalMsP50), f($0.qemuTotalTimeMsP50), f($0.qemuDowntimeMsP50),
                               $0.ratioToTunedQMP.map { String(format: "%.2fx", $0) } ?? ""] }))
    }
}
