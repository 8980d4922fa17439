import Attestation
package import Policy
import TPMWire

/// One measurement held against a golden-values file: the entry that applies and the verdict. `measure --golden`
/// prints these; the agent uses them to see whether what it measures now would pass. The verifier's Evaluator
/// matches log records with the same `GoldenValues.entry(for:)` and `Entry.allows`, so the two never judge one
/// measurement differently (the verifier also judges the records of earlier measurements in the log).
package struct GoldenMatch: Encodable, Sendable, Hashable {
    package enum Verdict: String, Encodable, Sendable {
        case ok
        case notAllowed = "not-allowed"
        case unknown
        case requiredMissing = "required-missing"
    }

    package var source: String
    package var name: String
    package var instance: String?
    package var sha256: String
    package var value: String?
    package var detail: String
    /// The golden entry that applies, if any.
    package var goldenEntry: String?
    /// Nil without golden values.
    package var match: Verdict?

    /// Each measurement with its verdict, then every required entry that was not measured.
    package static func match(_ measurements: [NamedMeasurement], golden: GoldenValues?) -> [GoldenMatch] {
        var rows = measurements.map { m -> GoldenMatch in
            var row = GoldenMatch(source: m.source, name: m.name, instance: m.instance, sha256: Hex.encode(m.sha256),
                                  value: m.value, detail: m.detail)
            if let golden {
                if let entry = golden.entry(for: m.name) {
                    row.goldenEntry = entry.name
                    row.match = entry.allows(sha256: m.sha256, value: m.value) ? .ok : .notAllowed
                } else {
                    row.match = .unknown
                }
            }
            return row
        }
        if let golden {
            let measured = Set(measurements.map(\.name))
            for name in golden.requiredNames where !measured.contains(name) {
                rows.append(GoldenMatch(source: "", name: name, sha256: "", detail: "required but not measured",
                                        goldenEntry: name, match: .requiredMissing))
            }
        }
        return rows
    }

    /// True when every row passed (no golden values: nothing to fail).
    package static func allPass(_ rows: [GoldenMatch]) -> Bool {
        rows.allSatisfy { $0.match == nil || $0.match == .ok }
    }
}
