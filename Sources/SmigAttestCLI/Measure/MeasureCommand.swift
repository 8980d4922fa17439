package import ArgumentParser
import Agent
import Attestation
import Foundation
package import Measurement
package import Policy

/// Source selection shared by `measure` and `golden capture`.
package struct MeasurementSourceOptions: ParsableArguments {
    @Option(name: .customLong("source"),
            help: ArgumentHelp("A measurement source (repeatable): \(SourceSpec.syntax).", valueName: "source"))
    package var sources: [String] = []

    package init() {}

    /// The sources: the --source options, else those a golden file's entry names imply.
    package func resolve(golden: GoldenValues?) throws -> [any MeasurementSource] {
        if !sources.isEmpty { return try sources.map { try SourceSpec.parse($0) } }
        guard let golden else { throw ValidationError("give --source (or --golden to measure what it names)") }
        return try SourceSpec.sources(impliedBy: golden)
    }
}

/// What `measure --extend --json` prints.
struct ExtendReport: Encodable {
    var measurements: [GoldenMatch]
    /// recnum of each record appended (and extended) by this run.
    var extended: [Int]
    var pcr: Int
    var log: String
}

/// `smig-attest measure [--source ...] [--golden FILE] [--extend] [--json]`
package struct MeasureCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Take the hypervisor measurements and show the golden entry each one matches.",
        discussion: """
        Prints one line per measurement: name (with #PID for process text), SHA-256, and with --golden the \
        verdict of its golden entry (ok, NOT ALLOWED, UNKNOWN) plus required entries that were not measured. \
        Without --source, measures what the golden file names. Exit status 4 (untrusted) if a measurement does not match. \
        With --extend, concurrent runs take turns (a lock beside the log). A damaged or diverged log: see \
        --reset-log.
        """)

    @OptionGroup package var selection: MeasurementSourceOptions
    @Option(help: "Golden-values file to match against.") package var golden: String?
    @Flag(help: "Extend new or changed measurements into the TPM and append them to the measurement log.")
    package var extend = false
    @Flag(help: ArgumentHelp("Start a new measurement log for this boot, keeping the old one as LOG.damaged-<time>.",
                             discussion: MeasureCommand.resetLogHelp))
    package var resetLog = false
    @Option(help: "PCR for runtime measurements (8-15: software cannot reset them).") public var pcr: Int = Measurer.defaultPCR
    @Option(help: ArgumentHelp("Measurement log (default STATE_DIR/measurements.log).", valueName: "file"))
    package var log: String?
    @OptionGroup package var tpm: TPMOptions
    @OptionGroup package var state: StateOptions
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.") package var json = false

    package init() {}

    package func validate() throws {
        guard (8...15).contains(pcr) else { throw ValidationError("--pcr must be 8-15 (PCRs software cannot reset), not \(pcr)") }
        if resetLog, extend || golden != nil || !selection.sources.isEmpty {
            throw ValidationError("--reset-log takes no --extend, --golden or --source: it only starts a new log")
        }
    }

    /// The measurement log path for a state directory.
    package static func logPath(_ explicit: String?, state: StateOptions) -> String {
        explicit ?? MeasurementLog.path(inStateDirectory: state.directory.path)
    }

    package static func measureAll(_ sources: [any MeasurementSource]) throws -> [NamedMeasurement] {
        var out: [NamedMeasurement] = []
        for source in sources { out += try source.measure() }
        return out
    }

    package func run() throws {
        try Output.reporting {
            if resetLog { return try startNewLog() }
            let goldenValues = try golden.map { try GoldenValues(contentsOfFile: $0) }
            let measurements = try Self.measureAll(try selection.resolve(golden: goldenValues))
            let rows = GoldenMatch.match(measurements, golden: goldenValues)
            var appended: [MeasurementRecord] = []
            if extend {
                try prepareStateDirectory(state.directory.path)
                let device = try tpm.open()
                appended = try Measurer.extend(measurements, logPath: Self.logPath(log, state: state),
                                               extender: TPMPCRExtender(device: device), pcr: pcr)
            }
            if json {
                if extend {
                    Output.json(ExtendReport(measurements: rows, extended: appended.map(\.recnum), pcr: pcr,
                                                    log: Self.logPath(log, state: state)))
                } else {
                    Output.json(rows)
                }
            } else {
                for row in rows {
                    let name = row.instance.map { "\(row.name)#\($0)" } ?? row.name
                    var text = "\(name)  \(row.sha256.isEmpty ? "-" : row.sha256)"
                    if let value = row.value, value.count <= 80, !value.contains("\n") { text += "  \"\(value)\"" }
                    switch row.match {
                    case .ok: text += "  ok (golden '\(row.goldenEntry ?? "")')"
                    case .notAllowed: text += "  NOT ALLOWED by golden '\(row.goldenEntry ?? "")'"
                    case .unknown: text += "  UNKNOWN (no golden entry)"
                    case .requiredMissing: text += "  REQUIRED BUT NOT MEASURED"
                    case nil: break
                    }
                    Output.line(text + "  [\(row.detail)]")
                }
                if extend {
                    Output.line(appended.isEmpty
                        ? "nothing changed: PCR \(pcr) not extended"
                        : "extended PCR \(pcr) with \(appended.count) new or changed measurement(s); log: \(Self.logPath(log, state: state))")
                }
            }
            if !GoldenMatch.allPass(rows) { throw ExitCode(4) }   // untrusted
        }
    }
}
