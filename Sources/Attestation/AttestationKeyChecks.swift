import TPMWire

extension AttestationError.Code {
    /// The AK sets TPMA_OBJECT bits the specification reserves: no TPM makes such a key.
    public static let keyReservedAttributes = Self(rawValue: "quote.key-reserved-attributes")
    /// sensitiveDataOrigin is clear: the private key was imported, not generated inside the TPM.
    public static let keyNotTPMGenerated = Self(rawValue: "quote.key-not-tpm-generated")
    /// The AK's nameAlg is weaker than SHA-256 (SHA-1 Names can be made to collide).
    public static let keyWeakNameAlg = Self(rawValue: "quote.key-weak-name-alg")
    /// The RSA public exponent is neither 65537 nor 0 (the TPM's encoding of 65537).
    public static let keyBadExponent = Self(rawValue: "quote.key-bad-exponent")
}

/// The checks an attestation key's public area must pass besides being a restricted signing key, as tight as
/// TPM 2.0 Part 1 allows for a key a TPM generated for attestation:
///
/// - no reserved TPMA_OBJECT bit (``ObjectAttributes/reservedMask``);
/// - `sensitiveDataOrigin` set (the TPM made the private key; an imported key could be known outside it);
/// - `userWithAuth` is *not* required: an AK used under a policy (adminWithPolicy) is as good;
/// - `nameAlg` SHA-256, SHA-384 or SHA-512: the Name binds the key, and SHA-1 Names can collide;
/// - RSA: a modulus of 2048, 3072 or 4096 bits and the exponent 65537 (0 on the wire means 65537): small
///   exponents (1, 2, 3) are refused before the crypto library sees them.
///
/// ECDSA signatures are accepted with a high or low `s` (a TPM produces either; malleability does not matter
/// for a quote, whose nonce and contents are fixed by the signed bytes).
enum AttestationKeyChecks {
    static let allowedNameAlgs: [TPMAlgorithm] = [.sha256, .sha384, .sha512]
    static let allowedRSABits: [UInt16] = [2048, 3072, 4096]

    static func check(_ area: PublicArea) throws(AttestationError) {
        let attributes = area.objectAttributes.rawValue
        if attributes & ObjectAttributes.reservedMask != 0 {
            throw AttestationError(.keyReservedAttributes,
                                   "AK attributes 0x\(String(attributes, radix: 16)) set reserved bits 0x\(String(attributes & ObjectAttributes.reservedMask, radix: 16))")
        }
        guard area.objectAttributes.contains(.sensitiveDataOrigin) else {
            throw AttestationError(.keyNotTPMGenerated,
                                   "AK attributes 0x\(String(attributes, radix: 16)) lack sensitiveDataOrigin: the key was not generated in the TPM")
        }
        guard allowedNameAlgs.contains(area.nameAlg) else {
            throw AttestationError(.keyWeakNameAlg, "AK nameAlg \(area.nameAlg) is not SHA-256, SHA-384 or SHA-512")
        }
        if case let .rsa(_, _, bits, exponent, _) = area.parameters {
            guard exponent == 0 || exponent == 65537 else {
                throw AttestationError(.keyBadExponent, "AK RSA exponent \(exponent) is not 65537")
            }
            guard allowedRSABits.contains(bits) else {
                throw AttestationError(.malformedKey, "AK RSA key is \(bits) bits; 2048, 3072 or 4096 required")
            }
        }
    }
}
