package import ArgumentParser
import Foundation
import Measurement
import Policy

/// `smig-attest golden capture --source ... > golden.yaml`
package struct GoldenCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "golden",
        abstract: "Work with golden values.",
        subcommands: [GoldenCaptureCommand.self])

    package init() {}
}

package struct GoldenCaptureCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Measure a known-good host and print golden values (YAML) for it.",
        discussion: """
        Run on a host in its known-good state. Every measurement becomes an entry allowing the digest (or, for \
        self-reported Xen values, the value) seen now, marked required unless --optional. Several processes of \
        one executable become one entry. Review the file before use: it says what is trusted.
        """)

    @OptionGroup package var selection: MeasurementSourceOptions
    @Option(help: "The golden set's name.") package var name: String = "captured"
    @Flag(help: "Do not mark captured entries as required.") package var optional = false

    package init() {}

    package func validate() throws {
        guard !selection.sources.isEmpty else { throw ValidationError("give at least one --source") }
    }

    package func run() throws {
        try Output.reporting {
            let measurements = try MeasureCommand.measureAll(try selection.resolve(golden: nil))
            let host = ProcessInfo.processInfo.hostName
            let date = ISO8601DateFormatter().string(from: Date())
            FileHandle.standardOutput.write(Data(GoldenCapture.yaml(measurements, name: name, required: !optional,
                                                           sources: selection.sources, host: host, date: date).utf8))
        }
    }
}
