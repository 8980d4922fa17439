import Foundation

extension ClockObservation {
    /// Reads a clock observation a verifier kept from an earlier verification, strictly (``StrictJSON``): either
    /// the bare object `{"clock": …, "resetCount": …, "restartCount": …}` or `smig-attest verify --json` output
    /// as it is (its `clock` member is the observation). Duplicate keys, unknown fields, numbers that are not
    /// in range, and sizes or depths over ``StrictJSON/Limits/small`` are refused with their `json.*` code.
    public static func decodeStrictly(_ bytes: some Collection<UInt8>) throws(StrictJSON.Error) -> ClockObservation {
        let document = try StrictJSON.parse(bytes, limits: .small)
        guard case let .object(fields) = document else {
            throw StrictJSON.Error(.shape, "a clock observation is a JSON object")
        }
        if case .object = fields["clock"] {
            for key in fields.keys where !verifyReportKeys.contains(key) {
                throw StrictJSON.Error(.unknownField, "unknown field '\(key)' in a verify report")
            }
            return try observation(fields["clock"] ?? .null, path: "clock")
        }
        return try observation(document, path: "")
    }

    /// The top-level keys of `verify --json` output.
    static let verifyReportKeys: Set<String> = ["result", "code", "reason", "akName", "pcrSelection", "clock",
                                                "continuity", "nonceChecked", "evaluation"]

    private static func observation(_ value: StrictJSON.Value, path: String) throws(StrictJSON.Error) -> ClockObservation {
        let prefix = path.isEmpty ? "" : path + "."
        guard case let .object(fields) = value else {
            throw StrictJSON.Error(.shape, "'\(path)' is not an object")
        }
        for key in fields.keys where !["clock", "resetCount", "restartCount"].contains(key) {
            throw StrictJSON.Error(.unknownField, "unknown field '\(prefix)\(key)'")
        }
        guard let clock = fields["clock"]?.integer(UInt64.self) else {
            throw StrictJSON.Error(.shape, "'\(prefix)clock' is missing or not an integer 0...2^64-1")
        }
        guard let resetCount = fields["resetCount"]?.integer(UInt32.self) else {
            throw StrictJSON.Error(.shape, "'\(prefix)resetCount' is missing or not an integer 0...2^32-1")
        }
        guard let restartCount = fields["restartCount"]?.integer(UInt32.self) else {
            throw StrictJSON.Error(.shape, "'\(prefix)restartCount' is missing or not an integer 0...2^32-1")
        }
        return ClockObservation(clock: clock, resetCount: resetCount, restartCount: restartCount)
    }
}
