public import ArgumentParser
import Foundation
public import Measurement
import Policy

/// `smig-attest golden capture --source ... > golden.yaml`
public struct GoldenCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "golden",
        abstract: "Work with golden values.",
        subcommands: [GoldenCaptureCommand.self])

    public init() {}
}

public struct GoldenCaptureCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Measure a known-good host and print golden values (YAML) for it.",
        discussion: """
        Run on a host in its known-good state. Every measurement becomes an entry allowing the digest (or, for \
        self-reported Xen values, the value) seen now, marked required unless --optional. Several processes of \
        one executable become one entry. Review the file before use: it says what is trusted.
        """)

    @OptionGroup public var selection: MeasurementSourceOptions
    @Option(help: "The golden set's name.") public var name: String = "captured"
    @Flag(help: "Do not mark captured entries as required.") public var optional = false

    public init() {}

    public func validate() throws {
        guard !selection.sources.isEmpty else { throw ValidationError("give at least one --source") }
    }

    /// YAML for `measurements`; the result parses as ``GoldenValues``.
    public static func yaml(_ measurements: [NamedMeasurement], name: String, required: Bool, sources: [String],
                            host: String, date: String) -> String {
        var out = """
            # Golden values captured by `smig-attest golden capture` on \(host) at \(date).
            # Sources: \(sources.joined(separator: " "))
            # Review before use: every digest and value below is trusted by this file.
            kind: golden-values
            version: 1
            name: \(quote(name))
            measurements:

            """
        var order: [String] = []
        var grouped: [String: [NamedMeasurement]] = [:]
        for measurement in measurements {
            if grouped[measurement.name] == nil { order.append(measurement.name) }
            grouped[measurement.name, default: []].append(measurement)
        }
        for entryName in order {
            let group = grouped[entryName] ?? []
            out += "  \(quote(entryName)):\n"
            out += "    # \(group[0].detail.replacingOccurrences(of: "\n", with: " "))\n"
            if group.allSatisfy({ $0.value != nil }) {
                var values: [String] = []
                for value in group.compactMap(\.value) where !values.contains(value) { values.append(value) }
                out += "    values:\n" + values.map { "      - \(quote($0))\n" }.joined()
            } else {
                var digests: [String] = []
                for digest in group.map({ Hex.encode($0.sha256) }) where !digests.contains(digest) { digests.append(digest) }
                out += "    sha256:\n" + digests.map { "      - \($0)\n" }.joined()
            }
            if required { out += "    required: true\n" }
        }
        return out
    }

    /// A double-quoted YAML scalar.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    public func run() throws {
        try Output.reporting {
            let measurements = try MeasureCommand.measureAll(try selection.resolve(golden: nil))
            let host = ProcessInfo.processInfo.hostName
            let date = ISO8601DateFormatter().string(from: Date())
            FileHandle.standardOutput.write(Data(Self.yaml(measurements, name: name, required: !optional,
                                                           sources: selection.sources, host: host, date: date).utf8))
        }
    }
}
