public import Crypto
public import TPMWire
public import _CryptoExtras

/// An attestation key's public part, ready to verify signatures: parsed from TPM2B_PUBLIC and checked to be a
/// restricted signing key that never leaves its TPM.
public struct AttestationKey: Sendable {
    public enum Key: Sendable {
        case p256(P256.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case rsa(_RSA.Signing.PublicKey)
    }

    /// The TPM2B_PUBLIC the key came from; nil for a bare SubjectPublicKeyInfo, whose attributes are unknown.
    public let publicKey: Public?
    public let key: Key
    /// The AK's Name (nameAlg || H(TPMT_PUBLIC)), over the exact bytes given; empty for a bare key.
    public let name: [UInt8]

    /// The TPM2B_PUBLIC bytes the key was parsed from (``init(tpm2bPublic:)``); nil when it was built otherwise.
    public private(set) var tpm2bPublicBytes: [UInt8]? = nil

    /// Whether the TPM attributes (restricted, fixedTPM, ...) were checked: false for a bare public key.
    public var attributesChecked: Bool { publicKey != nil }

    /// Parses TPM2B_PUBLIC bytes.
    public init(tpm2bPublic bytes: [UInt8]) throws(AttestationError) {
        let p: Public
        do { p = try Public(wireBytes: bytes) } catch { throw AttestationError(.malformedKey, wrapping: error, in: "AK TPM2B_PUBLIC") }
        try self.init(p)
        tpm2bPublicBytes = bytes
    }

    public init(_ publicKey: Public) throws(AttestationError) {
        let area = publicKey.publicArea
        let required: ObjectAttributes = [.fixedTPM, .fixedParent, .restricted, .sign]
        guard area.objectAttributes.isSuperset(of: required), !area.objectAttributes.contains(.decrypt) else {
            throw AttestationError(.keyNotRestricted,
                                   "AK attributes 0x\(String(area.objectAttributes.rawValue, radix: 16)) lack fixedTPM|fixedParent|restricted|sign (or set decrypt)")
        }
        try AttestationKeyChecks.check(area)
        self.publicKey = publicKey
        do { self.name = try publicKey.name } catch {
            throw AttestationError(.malformedKey, "the AK's Name cannot be computed: \(error)")
        }
        switch area.parameters {
        case .ecc(_, _, let curve, _, let x, let y):
            guard let size = curve.coordinateSize, x.count <= size, y.count <= size, !x.isEmpty, !y.isEmpty else {
                throw AttestationError(.malformedKey, "AK ECC point does not fit \(curve)")
            }
            let point = [0x04] + Self.leftPad(x, size) + Self.leftPad(y, size)
            do {
                switch curve {
                case .nistP256: key = .p256(try P256.Signing.PublicKey(x963Representation: point))
                case .nistP384: key = .p384(try P384.Signing.PublicKey(x963Representation: point))
                default: throw AttestationError(.malformedKey, "AK curve \(curve) is not supported")
                }
            } catch let e as AttestationError {
                throw e
            } catch {
                throw AttestationError(.malformedKey, "AK ECC point is not on \(curve)")
            }
        case .rsa(_, _, let bits, let exponent, let modulus):
            guard modulus.count == Int(bits) / 8, bits >= 2048 else {
                throw AttestationError(.malformedKey, "AK RSA modulus is \(modulus.count * 8) bits; 2048 or more required")
            }
            let e: [UInt8] = exponent == 0 ? [0x01, 0x00, 0x01] : Self.bigEndian(exponent)
            do { key = .rsa(try _RSA.Signing.PublicKey(n: modulus, e: e)) } catch {
                // The crypto library's own error text is not a stable code; say what was refused.
                throw AttestationError(.malformedKey, "AK RSA public key (\(bits) bits, exponent \(exponent == 0 ? 65537 : exponent)) is not a usable RSA key")
            }
        }
    }

    /// SubjectPublicKeyInfo PEM, as tpm2_checkquote's `-u` takes it.
    public var pemRepresentation: String {
        switch key {
        case .p256(let k): k.pemRepresentation
        case .p384(let k): k.pemRepresentation
        case .rsa(let k): k.pemRepresentation
        }
    }

    /// Verifies `signature` over `message` with this key. Only the AK's fixed scheme and hash are accepted.
    ///
    /// A valid signature over a SHA-1 digest (RSASSA-SHA1, RSAPSS-SHA1, ECDSA-SHA1) is refused with
    /// `quote.weak-hash` unless `allowSHA1` (legacy fleets whose AKs are fixed to SHA-1); an invalid one is
    /// `quote.bad-signature` like any other.
    /// The signed digest, through the one hash dispatch: a hash this toolkit does not implement is refused, never
    /// replaced by another.
    static func digest(_ message: [UInt8], _ hash: TPMAlgorithm) throws(AttestationError) -> any Digest {
        do { return try hash.digest(of: message) } catch {
            throw AttestationError(.schemeMismatch, "the signature's hash \(hash) is not one this verifier implements (sha1, sha256, sha384, sha512)")
        }
    }

    public func verify(_ signature: Signature, over message: [UInt8], allowSHA1: Bool = false) throws(AttestationError) {
        if let fixed = publicKey?.publicArea.scheme, fixed.scheme != .null, fixed.scheme != signature.scheme || fixed.hash != signature.hash {
            throw AttestationError(.schemeMismatch,
                                   "signature is \(signature.scheme)/\(signature.hash), the AK is fixed to \(fixed.scheme)/\(fixed.hash)")
        }
        let valid: Bool
        switch (key, signature) {
        case (.p256(let k), .ecdsa(let hash, let r, let s)):
            guard r.count <= 32, s.count <= 32, let sig = try? P256.Signing.ECDSASignature(rawRepresentation: Self.leftPad(r, 32) + Self.leftPad(s, 32)) else {
                throw AttestationError(.badSignature, "ECDSA r or s is longer than the P-256 order")
            }
            valid = k.isValidSignature(sig, for: try Self.digest(message, hash))
        case (.p384(let k), .ecdsa(let hash, let r, let s)):
            guard r.count <= 48, s.count <= 48, let sig = try? P384.Signing.ECDSASignature(rawRepresentation: Self.leftPad(r, 48) + Self.leftPad(s, 48)) else {
                throw AttestationError(.badSignature, "ECDSA r or s is longer than the P-384 order")
            }
            valid = k.isValidSignature(sig, for: try Self.digest(message, hash))
        case (.rsa(let k), .rsassa(let hash, let bytes)), (.rsa(let k), .rsapss(let hash, let bytes)):
            let padding: _RSA.Signing.Padding = signature.scheme == .rsapss ? .PSS : .insecurePKCS1v1_5
            let sig = _RSA.Signing.RSASignature(rawRepresentation: bytes)
            valid = k.isValidSignature(sig, for: try Self.digest(message, hash), padding: padding)
        default:
            throw AttestationError(.schemeMismatch, "a \(signature.scheme) signature cannot come from this AK")
        }
        guard valid else { throw AttestationError(.badSignature, "signature does not verify with the AK") }
        if signature.hash == .sha1, !allowSHA1 {
            throw AttestationError(.weakHash,
                                   "the signature is valid but made over a SHA-1 digest (\(signature.scheme)-sha1); SHA-1 signatures are refused unless allowed for a legacy fleet")
        }
    }

    static func leftPad(_ bytes: [UInt8], _ size: Int) -> [UInt8] {
        bytes.count >= size ? bytes : [UInt8](repeating: 0, count: size - bytes.count) + bytes
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] {
        var bytes = [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        while bytes.first == 0 { bytes.removeFirst() }
        return bytes
    }
}
