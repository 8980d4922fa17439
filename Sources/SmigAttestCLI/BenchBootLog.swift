package import ArgumentParser
import Benchmarks
import Foundation

/// `smig-attest bench bootlog`: parsing and replaying a boot log against hashing the same data, same run
/// (``BootLogBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchBootLog: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bootlog",
        abstract: "Boot log replay throughput (events/s, MB/s) vs raw hashing of the same event data.",
        discussion: """
        Measures, alternating in the same process: 'raw' — the extend hashes alone, H(pcr ‖ digest) for every \
        extending event in every bank the log records, with swift-crypto over pre-built buffers (the least any \
        replay must do); 'replay' — what `smig-attest bootlog replay` does from the log's bytes: parse every event \
        (bounds checks, digest lists) and replay every bank into PCRs 0–23; 'parse' — parsing alone. The ratios are \
        the cost of parsing and bookkeeping. Run it from a release build (swift build -c release).
        """)

    @Argument(help: "A binary boot event log (default: this machine's).")
    package var file: String = "/sys/kernel/security/tpm0/binary_bios_measurements"
    @OptionGroup package var timing: BenchTimingOptions
    @OptionGroup package var output: OutputOptions

    package init() {}

    package func run() throws {
        try reportingErrors {
            let bytes = try readFile(file)
            let report = try benchmarkFailures { try BootLogBenchmark.run(file: file, bytes: bytes, timing: timing.timing) }
            if output.json { Output.json(report); return }
            Output.line("bench bootlog (\(report.build) build, \(file): \(report.format), \(report.bytes) bytes, \(report.events) events, banks \(report.banks.joined(separator: ", ")); best of \(timing.rounds) × \(timing.seconds)s)")
            Output.line(Output.table(
                ["run", "logs/s", "events/s", "MB/s (log bytes)", "vs raw"],
                report.rows.map { r in
                    [r.name, String(format: "%.0f", r.logsPerSecond), String(format: "%.0f", r.eventsPerSecond),
                     String(format: "%.1f", r.megabytesPerSecond), String(format: "%.1f%%", r.ratio * 100)]
                }))
            Output.line("raw hashing: H(pcr ‖ digest) for each extending event and bank, buffers built beforehand;")
            Output.line("parse + replay: from the log's bytes, as 'bootlog replay' does.")
        }
    }
}
