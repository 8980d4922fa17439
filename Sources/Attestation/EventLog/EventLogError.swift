public import CodedError

/// The error type of the event-log parsers and replay (boot log and measurement log).
///
/// `code` is stable; tests and the evaluation match on it. `offset` is the byte offset in the log where the
/// problem was found, `record` the record number where known.
public struct EventLogError: CodedError {
    public struct Code: ErrorCode {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The bytes end inside a structure or record (a cut log).
        public static let truncated = Code(rawValue: "eventlog.truncated")
        /// Bytes after the last complete structure that are not a record.
        public static let trailingData = Code(rawValue: "eventlog.trailing-data")
        /// The log does not start with the TCG crypto-agile Spec ID event.
        public static let missingSpecIDEvent = Code(rawValue: "eventlog.missing-spec-id-event")
        /// A SHA-1-only (TCG 1.2) log, or a Spec ID version this parser does not read.
        public static let unsupportedFormat = Code(rawValue: "eventlog.unsupported-format")
        /// A length or count field outside the limits of the TCG PC Client specification.
        public static let badLength = Code(rawValue: "eventlog.bad-length")
        /// A PCR index outside 0...23.
        public static let badPCRIndex = Code(rawValue: "eventlog.bad-pcr-index")
        /// An event's digest list does not match the algorithms declared in the Spec ID event.
        public static let digestListMismatch = Code(rawValue: "eventlog.digest-list-mismatch")
        /// A record that is not valid CEL-JSON for this log (bad JSON, bad hex, missing field).
        public static let malformedRecord = Code(rawValue: "eventlog.malformed-record")
        /// Record numbers are all present but not in order (a reordered log).
        public static let recordOutOfOrder = Code(rawValue: "eventlog.record-out-of-order")
        /// A record number is missing (records removed from the middle).
        public static let recordMissing = Code(rawValue: "eventlog.record-missing")
        /// Two records carry the same record number.
        public static let duplicateRecord = Code(rawValue: "eventlog.duplicate-record")
        /// A record's digest is not the digest of its content (an edited record).
        public static let digestMismatch = Code(rawValue: "eventlog.digest-mismatch")
        /// The quoted PCR value is reached part-way through the log: records were added after it (a padded log).
        public static let extraRecords = Code(rawValue: "eventlog.extra-records")
        /// Replaying the log does not give the quoted PCR value (a truncated log, or an extend not logged).
        public static let replayMismatch = Code(rawValue: "eventlog.replay-mismatch")
        /// The quote covers none of the PCRs a boot log accounts for, in any bank the log records.
        public static let notQuoted = Code(rawValue: "eventlog.not-quoted")
        /// A StartupLocality event after PCR 0 was first extended, or a second one.
        public static let badStartupLocality = Code(rawValue: "eventlog.bad-startup-locality")
        /// A bank the replay cannot compute (e.g. SM3).
        public static let unsupportedAlgorithm = Code(rawValue: "eventlog.unsupported-algorithm")
    }

    public var code: Code
    public var reason: String
    /// Byte offset in the log, where known.
    public var offset: Int?
    /// Record number (CEL `recnum`, or event index in a boot log), where known.
    public var record: Int?
    /// The PCR concerned, where known.
    public var pcr: Int?

    public init(_ code: Code, _ reason: String, offset: Int? = nil, record: Int? = nil, pcr: Int? = nil) {
        self.code = code
        self.reason = reason
        self.offset = offset
        self.record = record
        self.pcr = pcr
    }

    public var description: String {
        switch (record, offset) {
        case let (record?, offset?): "\(code): \(reason) (record \(record), byte \(offset))"
        case let (record?, nil): "\(code): \(reason) (record \(record))"
        case let (nil, offset?): "\(code): \(reason) (byte \(offset))"
        case (nil, nil): "\(code): \(reason)"
        }
    }
}
