package import ArgumentParser
import Benchmarks
import Foundation

/// `smig-attest bench measure`: measurement digest throughput against raw SHA-256 over the same bytes in memory
/// (``MeasureBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchMeasure: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Measurement throughput (file, process text) vs raw in-memory SHA-256 of the same bytes.",
        discussion: """
        file: a SIZE MiB file in the page cache measured by the `file` source, against SHA-256 of the same bytes \
        already in memory. process-text: the executable mappings of --pid (default: this process) measured through \
        /proc/PID/mem by the `process-text` source, against SHA-256 of the same bytes copied out beforehand. \
        Rounds alternate raw and measured; the best round of each counts. Target: measured >= 80% of raw. \
        Run from a release build (swift build -c release) for meaningful figures.
        """)

    @Option(help: "File size in MiB.") package var size: Int = 64
    @Option(help: "Process whose text to measure (default: this process).") public var pid: Int32?
    @Option(help: "Alternating rounds (raw, measured); the best of each counts.") public var rounds: Int = 5
    @Option(help: "Directory for the temporary file.") package var directory: String = NSTemporaryDirectory()
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.") package var json = false

    package init() {}

    package func validate() throws {
        guard (1...4096).contains(size) else { throw ValidationError("--size must be 1-4096 MiB") }
        guard (1...50).contains(rounds) else { throw ValidationError("--rounds must be 1-50") }
    }

    package func run() throws {
        try Output.reporting {
            let report = try benchmarkFailures { try MeasureBenchmark.run(sizeMiB: size, pid: pid, rounds: rounds, directory: directory) }
            if json {
                Output.json(report)
            } else {
                Output.line("bench measure (\(report.build) build, best of \(rounds) alternating rounds)")
                Output.line("subject                         bytes        raw MiB/s  measured MiB/s  ratio  >= 80%")
                for row in report.rows {
                    let subject = row.subject.padding(toLength: 30, withPad: " ", startingAt: 0)
                    let bytes = String(row.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)
                    Output.line("\(subject)  \(bytes) \(String(format: "%10.1f", row.rawMiBPerSecond))  "
                        + "\(String(format: "%14.1f", row.measuredMiBPerSecond))  \(String(format: "%5.2f", row.ratio))  "
                        + (row.meetsTarget ? "yes" : "NO"))
                }
            }
        }
    }
}
