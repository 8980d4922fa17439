import TPMWire
import Policy

extension AttestationError.Code {
    /// No trusted AK was given: evidence cannot vouch for its own key.
    public static let akNotPinned = Self(rawValue: "quote.ak-not-pinned")
    /// The evidence was made with (or carries) an AK other than the pinned one.
    public static let akMismatch = Self(rawValue: "quote.ak-mismatch")
    /// No nonce of the verifier's own was given: freshness cannot be judged.
    public static let nonceNotGiven = Self(rawValue: "quote.nonce-not-given")
    /// The verifier's nonce is shorter than `Freshness.minimumNonceBytes`.
    public static let nonceTooShort = Self(rawValue: "quote.nonce-too-short")
}

/// The attestation key a verifier trusts, held by the verifier itself (enrolment, or given by the user). Evidence
/// is checked against it; the key or Name that evidence carries is never trusted on its own.
public enum AKPin: Sendable {
    /// The AK's TPM2B_PUBLIC: every check, attributes included.
    case publicArea(AttestationKey)
    /// The AK's Name (nameAlg ‖ H(TPMT_PUBLIC)): the evidence's TPM2B_PUBLIC must hash to it, which binds its
    /// attributes too.
    case name([UInt8])
    /// A bare public key (SubjectPublicKeyInfo): the signature is checked against it, the TPM attributes are not.
    case subjectPublicKeyInfo(AttestationKey)

    /// Resolves the key to verify with, given the TPM2B_PUBLIC that came with the evidence (if any).
    public func key(evidenceKey: [UInt8]?) throws(AttestationError) -> AttestationKey {
        switch self {
        case .publicArea(let pinned):
            // The very bytes the pinned key was parsed from name the same key: nothing to parse again.
            if let evidenceKey, evidenceKey == pinned.tpm2bPublicBytes { return pinned }
            if let evidenceKey, let carried = try? Public(wireBytes: evidenceKey), (try? carried.name) != pinned.name {
                throw AttestationError(.akMismatch, "the evidence carries AK \((try? carried.name).map(Hex.encode) ?? "with an unsupported nameAlg"), the pinned AK is \(Hex.encode(pinned.name))")
            }
            return pinned
        case .name(let name):
            guard let evidenceKey else {
                throw AttestationError(.akMismatch, "an AK Name is pinned but the evidence carries no TPM2B_PUBLIC to check against it")
            }
            let carried = try AttestationKey(tpm2bPublic: evidenceKey)
            guard QuoteVerifier.constantTimeEqual(carried.name, name) else {
                throw AttestationError(.akMismatch, "the evidence's AK has Name \(Hex.encode(carried.name)), the pinned Name is \(Hex.encode(name))")
            }
            return carried
        case .subjectPublicKeyInfo(let pinned):
            if let evidenceKey {
                let carried = try AttestationKey(tpm2bPublic: evidenceKey)
                guard carried.subjectPublicKeyInfoDER == pinned.subjectPublicKeyInfoDER else {
                    throw AttestationError(.akMismatch, "the evidence's AK is not the pinned public key")
                }
            }
            return pinned
        }
    }

    /// Whether the TPM attributes of the key were checked against something the verifier trusts.
    public var attributesPinned: Bool {
        switch self {
        case .publicArea, .name: true
        case .subjectPublicKeyInfo: false
        }
    }
}

/// How a verifier judges freshness: with its own nonce, or (explicitly) not at all.
public enum Freshness: Sendable {
    public static let minimumNonceBytes = 16

    /// The nonce the verifier issued for this challenge.
    case nonce([UInt8])
    /// No freshness check: the evidence may be a replay. Only for consistency checks a user asked for by name.
    case notChecked

    /// Checks a verifier-supplied nonce is long enough to be a challenge. `allowingShort` (the named waiver
    /// `--insecure-short-nonce`, for quotes made with a short or empty qualifying data) accepts any length.
    public static func issued(_ nonce: [UInt8], allowingShort: Bool = false) throws(AttestationError) -> Freshness {
        guard nonce.count >= minimumNonceBytes || allowingShort else {
            throw AttestationError(.nonceTooShort, "the nonce is \(nonce.count) bytes; a challenge needs at least \(minimumNonceBytes)")
        }
        return .nonce(nonce)
    }
}
