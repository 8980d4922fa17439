public import TPMWire
import Policy

/// The outcome of evaluating verified evidence against golden values. Failing is a result: `trusted == false`
/// with one ``Reason`` per offending measurement or PCR.
public struct Verdict: Sendable, Hashable {
    public struct Reason: Sendable, Hashable, CustomStringConvertible {
        public enum Kind: String, Sendable, Hashable, Codable {
            /// A logged measurement whose name has no golden entry.
            case unknownMeasurement = "unknown-measurement"
            /// A logged measurement whose digest (or value) the golden entry does not allow.
            case digestNotAllowed = "digest-not-allowed"
            /// A golden entry marked `required` that the log never measured.
            case requiredMissing = "required-missing"
            /// A quoted PCR value that the golden values do not allow, or that the boot log does not replay to.
            case pcrMismatch = "pcr-mismatch"
            /// The measurement log is malformed, edited, reordered, truncated or padded (see `logErrorCode`).
            case logInvalid = "log-invalid"
        }

        public var kind: Kind
        /// The measurement source (`process-text`, `file`, …), where the reason concerns a measurement.
        public var source: String?
        /// The measurement name (with `#instance` where the source has instances, e.g. a PID).
        public var measurement: String?
        public var pcr: Int?
        public var bank: TPMAlgorithm?
        /// The offending digest or value, hex or text.
        public var actual: String?
        /// The record number in the measurement log, where it applies.
        public var record: Int?
        /// The ``EventLogError`` code for `logInvalid`.
        public var logErrorCode: String?
        public var detail: String

        public init(kind: Kind, source: String? = nil, measurement: String? = nil, pcr: Int? = nil,
                    bank: TPMAlgorithm? = nil, actual: String? = nil, record: Int? = nil,
                    logErrorCode: String? = nil, detail: String) {
            self.kind = kind
            self.source = source
            self.measurement = measurement
            self.pcr = pcr
            self.bank = bank
            self.actual = actual
            self.record = record
            self.logErrorCode = logErrorCode
            self.detail = detail
        }

        public var description: String {
            var subject = ""
            if let source { subject += "\(source) " }
            if let measurement { subject += "'\(measurement)' " }
            if let pcr { subject += "PCR \(pcr)\(bank.map { " (\($0.name))" } ?? "") " }
            return "\(kind.rawValue): \(subject)\(detail)"
        }
    }

    public var reasons: [Reason]
    /// Measurement records looked at.
    public var recordsChecked: Int
    /// The golden values' name.
    public var goldenName: String

    public var trusted: Bool { reasons.isEmpty }

    public init(reasons: [Reason], recordsChecked: Int, goldenName: String) {
        self.reasons = reasons
        self.recordsChecked = recordsChecked
        self.goldenName = goldenName
    }
}
