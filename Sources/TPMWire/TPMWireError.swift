public import CodedError

/// The one error type of TPMWire: something in a byte string is not a well-formed TPM 2.0 structure.
///
/// `code` is stable and meant for programs and tests; `reason` is for people; `offset` is the byte offset
/// (from the start of the buffer being read) where the problem was found, when known.
public struct TPMWireError: CodedError {
    public struct Code: ErrorCode {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Fewer bytes than the structure needs.
        public static let truncated = Code(rawValue: "wire.truncated")
        /// Bytes left over after a structure that must fill its buffer.
        public static let trailingBytes = Code(rawValue: "wire.trailing-bytes")
        /// A size field larger than the TPM specification allows for that structure.
        public static let sizeTooLarge = Code(rawValue: "wire.size-too-large")
        /// A count field larger than the TPM specification allows.
        public static let countTooLarge = Code(rawValue: "wire.count-too-large")
        /// An algorithm identifier that is unknown or not allowed in this position.
        public static let unsupportedAlgorithm = Code(rawValue: "wire.unsupported-algorithm")
        /// A field whose value is not allowed (a selector, a curve, a structure tag).
        public static let badValue = Code(rawValue: "wire.bad-value")
        /// A size field that disagrees with the structure it frames.
        public static let sizeMismatch = Code(rawValue: "wire.size-mismatch")
        /// A PCR selection names a PCR the TPM does not have (index 24 or more).
        public static let pcrOutOfRange = Code(rawValue: "wire.pcr-out-of-range")
    }

    public let code: Code
    public let reason: String
    public let offset: Int?

    public init(_ code: Code, _ reason: String, offset: Int? = nil) {
        self.code = code
        self.reason = reason
        self.offset = offset
    }

    public var description: String {
        if let offset { return "\(code): \(reason) (at byte \(offset))" }
        return "\(code): \(reason)"
    }
}
