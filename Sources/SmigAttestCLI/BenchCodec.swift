package import ArgumentParser
import Benchmarks
import Foundation

/// `smig-attest bench codec`: the RC-TCB's JSON work per report by Foundation and by the fast codec, same run
/// (``CodecBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchCodec: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "The RC-TCB's report JSON (decode the report, encode its bundle and the answer): Foundation vs the fast codec.",
        discussion: """
        Builds a report as the benchmark doubles send it (one measurement record, PCRs sha256:0-7,15, a quote by a \
        software key) and the RC-TCB's answer with the reporter's next duty, checks that both codecs agree on them \
        (the same value decoded, the same bytes encoded), then measures each operation alternating Foundation's \
        JSONDecoder/JSONEncoder (RegionJSON) with the fast codec the reports route uses. Figures are µs per call, \
        the best round of each. Run it from a release build (swift build -c release) for meaningful figures.
        """)

    @OptionGroup package var timing: BenchTimingOptions
    @OptionGroup package var output: OutputOptions

    package init() {}

    package func run() throws {
        try reportingErrors {
            let report = try benchmarkFailures { try CodecBenchmark.run(timing: timing.timing) }
            if output.json { Output.json(report); return }
            Output.line("bench codec (\(report.build) build, best of \(timing.rounds) × \(timing.seconds)s)")
            Output.line(Output.table(
                ["operation", "bytes", "Foundation µs", "fast µs", "speed-up"],
                report.rows.map { r in
                    [r.operation, "\(r.bytes)", String(format: "%.2f", r.foundationMicroseconds), String(format: "%.2f", r.fastMicroseconds),
                     String(format: "%.1f×", r.speedup)]
                }))
            Output.line("fast: RegionJSON.decodeReport (Foundation only for bodies outside the form agents send) and RegionJSON.fastEncode.")
        }
    }
}
