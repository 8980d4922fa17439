import TPMWire
public import CodedError

/// Why evidence was rejected. One stable code per failure kind, a one-line reason, and the byte offset in the
/// offending structure where one is known.
public struct AttestationError: CodedError {
    public struct Code: ErrorCode, Codable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        /// The attest bytes are not a well-formed TPMS_ATTEST.
        public static let malformedAttest = Code(rawValue: "quote.malformed-attest")
        /// The signature bytes are not a well-formed TPMT_SIGNATURE (or use an unsupported scheme).
        public static let malformedSignature = Code(rawValue: "quote.malformed-signature")
        /// The AK public area is malformed or not a usable key.
        public static let malformedKey = Code(rawValue: "quote.malformed-key")
        /// The AK is not a restricted, fixedTPM signing key, so it could sign a forged TPMS_ATTEST.
        public static let keyNotRestricted = Code(rawValue: "quote.key-not-restricted")
        /// The claimed PCR values are malformed (wrong count or digest length for the bank).
        public static let malformedPCRValues = Code(rawValue: "quote.malformed-pcr-values")
        /// magic is not TPM_GENERATED_VALUE: the TPM did not produce this structure.
        public static let badMagic = Code(rawValue: "quote.bad-magic")
        /// type is not TPM_ST_ATTEST_QUOTE.
        public static let notAQuote = Code(rawValue: "quote.not-a-quote")
        /// The signature scheme or hash is not the one the AK is fixed to.
        public static let schemeMismatch = Code(rawValue: "quote.scheme-mismatch")
        /// The signature does not verify over the attest bytes with the AK.
        public static let badSignature = Code(rawValue: "quote.bad-signature")
        /// The signature is valid but made over a SHA-1 digest, which policy refuses (allow it explicitly for
        /// legacy fleets whose AKs are fixed to SHA-1).
        public static let weakHash = Code(rawValue: "quote.weak-hash")
        /// extraData is not the expected nonce (replay or wrong challenge).
        public static let nonceMismatch = Code(rawValue: "quote.nonce-mismatch")
        /// The quoted banks are not the expected banks (e.g. SHA-1 only where SHA-256 is required).
        public static let bankMismatch = Code(rawValue: "quote.bank-mismatch")
        /// Same banks, but not the expected PCRs.
        public static let selectionMismatch = Code(rawValue: "quote.selection-mismatch")
        /// pcrDigest is not the hash of the claimed PCR values.
        public static let pcrDigestMismatch = Code(rawValue: "quote.pcr-digest-mismatch")
        /// clockInfo.safe is NO: the clock may have gone back since it was last saved.
        public static let clockNotSafe = Code(rawValue: "quote.clock-not-safe")
        /// resetCount went back compared with an earlier quote of the same TPM.
        public static let resetCountWentBack = Code(rawValue: "quote.reset-count-went-back")
        /// restartCount went back without a reset.
        public static let restartCountWentBack = Code(rawValue: "quote.restart-count-went-back")
        /// clock went back without a reset or restart.
        public static let clockWentBack = Code(rawValue: "quote.clock-went-back")
        /// The evidence bundle or tpm2-tools files could not be read.
        public static let malformedEvidence = Code(rawValue: "evidence.malformed")
    }

    public let code: Code
    public let reason: String
    public let offset: Int?

    public init(_ code: Code, _ reason: String, offset: Int? = nil) {
        self.code = code
        self.reason = reason
        self.offset = offset
    }

    init(_ code: Code, wrapping error: TPMWireError, in what: String) {
        self.init(code, "\(what): \(error.reason) [\(error.code)]", offset: error.offset)
    }

    public var description: String {
        if let offset { return "\(code): \(reason) (byte \(offset))" }
        return "\(code): \(reason)"
    }
}
