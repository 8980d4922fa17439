/// The endorsement keys this project creates: the TCG EK Credential Profile templates that swtpm_setup certifies
/// (RSA-2048 low range, ECC NIST P-384 high range) and ECC NIST P-256 (low range).
public enum EKType: String, CaseIterable, Hashable, Sendable, Codable {
    case rsa2048 = "rsa"
    case eccP256 = "ecc256"
    case eccP384 = "ecc384"

    /// NV index of the EK certificate (TCG EK Credential Profile, 2.2.1.4).
    public var certificateNVIndex: UInt32 {
        switch self {
        case .rsa2048: 0x01C0_0002
        case .eccP256: 0x01C0_000A
        case .eccP384: 0x01C0_0016
        }
    }

    /// Whether USER-role use of the key (as a parent) needs a PolicySecret(TPM_RH_ENDORSEMENT) session. Low-range
    /// templates clear userWithAuth; high-range templates set it (empty authValue).
    public var needsPolicySession: Bool { self != .eccP384 }

    /// PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256 (EK Credential Profile, B.3.3 / policy A).
    static let policyASHA256: [UInt8] = [
        0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
        0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA,
    ]

    /// PolicyOR(policy A, policy C) with SHA-384, the high-range templates' authPolicy (EK Credential Profile, B.4).
    static let policyBSHA384: [UInt8] = [
        0xB2, 0x6E, 0x7D, 0x28, 0xD1, 0x1A, 0x50, 0xBC, 0x53, 0xD8, 0x82, 0xBC, 0xF5, 0xFD, 0x3A, 0x1A,
        0x07, 0x41, 0x48, 0xBB, 0x35, 0xD3, 0xB4, 0xE4, 0xCB, 0x1C, 0x0A, 0xD9, 0xBD, 0xE4, 0x19, 0xCA,
        0xCB, 0x47, 0xBA, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0F, 0x9F, 0xC0, 0x00, 0xF3, 0xF8, 0x0E, 0x12,
    ]

    /// The template to pass to TPM2_CreatePrimary in the endorsement hierarchy.
    public var template: PublicArea {
        let lowRange: ObjectAttributes = [.fixedTPM, .fixedParent, .sensitiveDataOrigin, .adminWithPolicy, .restricted, .decrypt]
        switch self {
        case .rsa2048:
            return PublicArea(
                nameAlg: .sha256, objectAttributes: lowRange, authPolicy: Self.policyASHA256,
                parameters: .rsa(symmetric: .aesCFB(128), scheme: .null, keyBits: 2048, exponent: 0,
                                 modulus: [UInt8](repeating: 0, count: 256)))
        case .eccP256:
            return PublicArea(
                nameAlg: .sha256, objectAttributes: lowRange, authPolicy: Self.policyASHA256,
                parameters: .ecc(symmetric: .aesCFB(128), scheme: .null, curve: .nistP256, kdf: .null,
                                 x: [UInt8](repeating: 0, count: 32), y: [UInt8](repeating: 0, count: 32)))
        case .eccP384:
            return PublicArea(
                nameAlg: .sha384, objectAttributes: lowRange.union(.userWithAuth), authPolicy: Self.policyBSHA384,
                parameters: .ecc(symmetric: .aesCFB(256), scheme: .null, curve: .nistP384, kdf: .null, x: [], y: []))
        }
    }
}

/// The attestation key's algorithm: a restricted signing key, as tpm2_createak makes it.
public enum AKType: String, CaseIterable, Hashable, Sendable, Codable {
    /// ECC NIST P-256 with ECDSA-SHA256 (the default).
    case eccP256 = "ecc"
    /// RSA-2048 with RSASSA-PKCS1-v1_5-SHA256.
    case rsa2048 = "rsa"

    public var template: PublicArea {
        let attributes: ObjectAttributes = [.fixedTPM, .fixedParent, .sensitiveDataOrigin, .userWithAuth, .restricted, .sign]
        switch self {
        case .eccP256:
            return PublicArea(
                nameAlg: .sha256, objectAttributes: attributes, authPolicy: [],
                parameters: .ecc(symmetric: .null, scheme: Scheme(scheme: .ecdsa, hash: .sha256), curve: .nistP256,
                                 kdf: .null, x: [], y: []))
        case .rsa2048:
            return PublicArea(
                nameAlg: .sha256, objectAttributes: attributes, authPolicy: [],
                parameters: .rsa(symmetric: .null, scheme: Scheme(scheme: .rsassa, hash: .sha256), keyBits: 2048,
                                 exponent: 0, modulus: []))
        }
    }
}
