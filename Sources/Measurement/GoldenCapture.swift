import Attestation
import Foundation
import TPMWire
import Policy

/// `golden capture`: golden values written from the measurements of a known-good host.
package enum GoldenCapture {
    /// Golden values for `measurements`, as YAML that parses as ``GoldenValues``: one entry per measurement name
    /// (several processes of one executable become one entry), allowing the digest — or, for self-reported values,
    /// the value — seen now, each with its detail as a comment.
    package static func yaml(_ measurements: [NamedMeasurement], name: String, required: Bool, sources: [String],
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
    package static func quote(_ text: String) -> String {
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
}
