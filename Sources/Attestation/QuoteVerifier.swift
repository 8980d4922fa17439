public import TPMWire

/// What the verifier expects of a quote: the challenge it issued and the PCRs it asked for.
public struct QuoteExpectation: Sendable {
    public var nonce: [UInt8]
    public var selection: PCRSelectionList
    /// The last observation of this TPM's clock, if any.
    public var previous: ClockObservation?
    /// Accept signatures over SHA-1 digests (legacy AKs); refused with `quote.weak-hash` by default.
    public var allowSHA1Signatures: Bool

    public init(nonce: [UInt8], selection: PCRSelectionList, previous: ClockObservation? = nil,
                allowSHA1Signatures: Bool = false) {
        self.nonce = nonce
        self.selection = selection
        self.previous = previous
        self.allowSHA1Signatures = allowSHA1Signatures
    }
}

/// A quote that passed every check.
public struct VerifiedQuote: Hashable, Sendable {
    public var attest: Attest
    public var quoteInfo: QuoteInfo
    /// Claimed PCR values, now proven.
    public var pcrs: PCRBanks
    public var clock: ClockObservation
    public var continuity: ClockObservation.Continuity?
}

/// The outcome of verifying a quote. Failing is a result, not an exception.
public enum QuoteVerdict: Sendable {
    /// Every check passed and the TPM's clock continues from the previous observation (or there was none).
    case valid(VerifiedQuote)
    /// Every check passed, but the TPM was reset (rebooted) or restarted since the previous observation:
    /// the quote is genuine, yet earlier trust does not carry over.
    case rebooted(VerifiedQuote, previous: ClockObservation)
    case rejected(AttestationError)

    public var error: AttestationError? {
        if case .rejected(let e) = self { return e }
        return nil
    }

    public var verified: VerifiedQuote? {
        switch self {
        case .valid(let q), .rebooted(let q, _): q
        case .rejected: nil
        }
    }
}

/// Verifies TPM2_Quote evidence as strictly as the best verifiers do (tpm2_checkquote, Keylime): over the exact
/// signed bytes, never a re-encoding.
public enum QuoteVerifier {
    /// Checks, in order: the key is a restricted signing key; attest and signature parse; the signature verifies
    /// with the AK's scheme over the exact attest bytes; magic; type; extraData = nonce; banks; selection;
    /// pcrDigest = H(claimed values); clock safe; clock continuity with `previous`.
    ///
    /// `pcrValues` are the claimed values in the order of the *expected* selection (bank by bank, ascending PCR).
    public static func verify(
        attest attestBytes: [UInt8], signature signatureBytes: [UInt8], key: AttestationKey,
        pcrValues: [[UInt8]], expected: QuoteExpectation
    ) -> QuoteVerdict {
        do {
            return try verifyThrowing(attest: attestBytes, signature: signatureBytes, key: key, pcrValues: pcrValues, expected: expected)
        } catch {
            return .rejected(error)
        }
    }

    static func verifyThrowing(
        attest attestBytes: [UInt8], signature signatureBytes: [UInt8], key: AttestationKey,
        pcrValues: [[UInt8]], expected: QuoteExpectation
    ) throws(AttestationError) -> QuoteVerdict {
        let attest: Attest
        do { attest = try Attest(wireBytes: attestBytes) } catch { throw AttestationError(.malformedAttest, wrapping: error, in: "TPMS_ATTEST") }
        let signature: Signature
        do { signature = try Signature(wireBytes: signatureBytes) } catch { throw AttestationError(.malformedSignature, wrapping: error, in: "TPMT_SIGNATURE") }

        try key.verify(signature, over: attest.signedBytes, allowSHA1: expected.allowSHA1Signatures)

        guard attest.magic == Attest.generatedValue else {
            throw AttestationError(.badMagic, "magic is 0x\(String(attest.magic, radix: 16)), not TPM_GENERATED_VALUE 0xff544347", offset: 0)
        }
        guard attest.type == Attest.typeQuote, let info = attest.quoteInfo else {
            throw AttestationError(.notAQuote, "type is 0x\(String(attest.type, radix: 16)), not TPM_ST_ATTEST_QUOTE", offset: 4)
        }
        guard constantTimeEqual(attest.extraData, expected.nonce) else {
            throw AttestationError(.nonceMismatch, "extraData does not equal the nonce of this challenge")
        }
        let quotedBanks = info.pcrSelect.selections.filter { !$0.pcrs.isEmpty }.map(\.hash)
        let expectedBanks = expected.selection.selections.filter { !$0.pcrs.isEmpty }.map(\.hash)
        guard quotedBanks == expectedBanks else {
            throw AttestationError(.bankMismatch, "quoted banks [\(quotedBanks.map(\.name).joined(separator: ","))], expected [\(expectedBanks.map(\.name).joined(separator: ","))]")
        }
        guard info.pcrSelect.selectsSame(as: expected.selection) else {
            throw AttestationError(.selectionMismatch, "quoted PCRs \(info.pcrSelect), expected \(expected.selection)")
        }

        let ordered = expected.selection.orderedPCRs
        guard pcrValues.count == ordered.count else {
            throw AttestationError(.malformedPCRValues, "\(pcrValues.count) PCR values for \(ordered.count) selected PCRs")
        }
        var pcrs = PCRBanks()
        for (i, entry) in ordered.enumerated() {
            guard pcrValues[i].count == entry.hash.digestSize else {
                throw AttestationError(.malformedPCRValues, "PCR \(entry.hash.name):\(entry.pcr) value is \(pcrValues[i].count) bytes, not \(entry.hash.digestSize ?? 0)")
            }
            pcrs[entry.hash, entry.pcr] = pcrValues[i]
        }
        let digest: [UInt8]
        do { digest = try pcrDigest(pcrValues, hash: signature.hash) } catch {
            throw AttestationError(.schemeMismatch, "the signature's hash cannot be computed: \(error)")
        }
        guard constantTimeEqual(digest, info.pcrDigest) else {
            throw AttestationError(.pcrDigestMismatch, "pcrDigest is not the \(signature.hash.name) of the claimed PCR values")
        }
        guard attest.clockInfo.safe else {
            throw AttestationError(.clockNotSafe, "clockInfo.safe is NO: the TPM clock may have gone back")
        }
        let clock = ClockObservation(attest.clockInfo)
        var quote = VerifiedQuote(attest: attest, quoteInfo: info, pcrs: pcrs, clock: clock, continuity: nil)
        guard let previous = expected.previous else { return .valid(quote) }
        switch previous.continuity(to: clock) {
        case .failure(let e): throw e
        case .success(let c):
            quote.continuity = c
            return c == .continuous ? .valid(quote) : .rebooted(quote, previous: previous)
        }
    }

    /// The pcrDigest a TPM puts in a quote: H(value₁ ‖ value₂ ‖ …) with the signing scheme's hash.
    public static func pcrDigest(_ values: [[UInt8]], hash: TPMAlgorithm) throws(TPMWireError) -> [UInt8] {
        var concatenated: [UInt8] = []
        concatenated.reserveCapacity(values.reduce(0) { $0 + $1.count })
        for v in values { concatenated += v }
        return try hash.hash(concatenated)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for i in 0..<a.count { diff |= a[i] ^ b[i] }
        return diff == 0
    }
}
