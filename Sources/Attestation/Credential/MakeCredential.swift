import BigInt
import Crypto
import Foundation
import _CryptoExtras
public import TPMWire

extension AttestationError.Code {
    /// The EK cannot receive a credential: not a restricted decryption key with a supported algorithm.
    public static let credentialUnsupportedEK = Self(rawValue: "credential.unsupported-ek")
    /// The credential or object Name is not of a size a TPM accepts.
    public static let credentialBadInput = Self(rawValue: "credential.bad-input")
}

/// What TPM2_MakeCredential produces, as wire bytes for TPM2_ActivateCredential.
public struct CredentialChallenge: Hashable, Sendable {
    /// TPM2B_ID_OBJECT: integrityHMAC and the encrypted credential.
    public var idObject: [UInt8]
    /// TPM2B_ENCRYPTED_SECRET: the seed, encrypted to the EK (RSA-OAEP) or an ephemeral ECC point (ECDH).
    public var encryptedSecret: [UInt8]
}

/// TPM2_MakeCredential in software (TPM 2.0 Part 1, 24 "Credential Protection"; Part 3, 12.6): a credential
/// that only the TPM holding `ek` can recover, and only for a loaded object whose Name is `objectName`
/// (TPM2_ActivateCredential). The RC-TCB uses it at enrolment to prove the AK lives in the EK's TPM.
///
/// - seed: RSA EK — a random seed the size of the EK's nameAlg digest, encrypted with RSA-OAEP (nameAlg,
///   label "IDENTITY\0"); ECC EK — ECDH of an ephemeral key with the EK, seed = KDFe(nameAlg, Z, "IDENTITY",
///   ephemeral.x, EK.x).
/// - symKey = KDFa(nameAlg, seed, "STORAGE", objectName, —, EK symmetric key bits); encIdentity = AES-CFB(symKey,
///   IV 0, TPM2B_DIGEST(credential)).
/// - HMACkey = KDFa(nameAlg, seed, "INTEGRITY", —, —, digest bits); integrityHMAC = HMAC(HMACkey,
///   encIdentity ‖ objectName).
public enum MakeCredential {
    /// Randomness a test can fix: the RSA seed or the ECC ephemeral scalar (big-endian).
    public struct Randomness: Sendable {
        public var seed: [UInt8]?
        public var ephemeralScalar: [UInt8]?
        public var oaepSeed: [UInt8]?

        public init(seed: [UInt8]? = nil, ephemeralScalar: [UInt8]? = nil, oaepSeed: [UInt8]? = nil) {
            self.seed = seed
            self.ephemeralScalar = ephemeralScalar
            self.oaepSeed = oaepSeed
        }

        public static let system = Randomness()
    }

    public static func make(ek: Public, objectName: [UInt8], credential: [UInt8], randomness: Randomness = .system) throws(AttestationError) -> CredentialChallenge {
        let area = ek.publicArea
        let nameAlg = area.nameAlg
        guard let digestSize = nameAlg.digestSize, [TPMAlgorithm.sha256, .sha384, .sha512].contains(nameAlg) else {
            throw AttestationError(.credentialUnsupportedEK, "EK name algorithm \(nameAlg.name) is not supported")
        }
        let required: ObjectAttributes = [.restricted, .decrypt, .fixedTPM, .fixedParent]
        guard area.objectAttributes.isSuperset(of: required), !area.objectAttributes.contains(.sign) else {
            throw AttestationError(.credentialUnsupportedEK, "the EK is not a restricted decryption key (attributes 0x\(String(area.objectAttributes.rawValue, radix: 16)))")
        }
        guard (1...digestSize).contains(credential.count) else {
            throw AttestationError(.credentialBadInput, "the credential must be 1–\(digestSize) bytes")
        }
        guard objectName.count >= 2, objectName.count <= 2 + 64 else {
            throw AttestationError(.credentialBadInput, "the object Name is \(objectName.count) bytes")
        }
        let symmetric: SymmetricDefinition
        let seed: [UInt8]
        let encryptedSecret: [UInt8]
        switch area.parameters {
        case .rsa(let sym, _, let keyBits, let exponent, let modulus):
            symmetric = sym
            if let fixed = randomness.seed { seed = fixed } else { seed = try randomBytes(digestSize) }
            guard seed.count == digestSize else { throw AttestationError(.credentialBadInput, "the seed must be \(digestSize) bytes") }
            let encrypted = try RSAOAEP.encrypt(seed, modulus: modulus, exponent: exponent, keyBits: Int(keyBits), hash: nameAlg,
                                               label: Array("IDENTITY".utf8) + [0], oaepSeed: randomness.oaepSeed)
            encryptedSecret = sized(encrypted)
        case .ecc(let sym, _, let curve, _, let x, let y):
            symmetric = sym
            let (z, ephemeralX, ephemeralY, ekX) = try ECDHShared.compute(curve: curve, x: x, y: y, scalar: randomness.ephemeralScalar)
            seed = try KeyDerivation.kdfe(nameAlg, z: z, label: "IDENTITY", partyU: ephemeralX, partyV: ekX, bits: digestSize * 8)
            encryptedSecret = sized(sized(ephemeralX) + sized(ephemeralY))
        }
        guard symmetric.algorithm == .aes, symmetric.mode == .cfb, [128, 192, 256].contains(Int(symmetric.keyBits)) else {
            throw AttestationError(.credentialUnsupportedEK, "the EK's symmetric definition is not AES-CFB")
        }
        let symKey = try KeyDerivation.kdfa(nameAlg, key: seed, label: "STORAGE", contextU: objectName, contextV: [], bits: Int(symmetric.keyBits))
        let encIdentity: [UInt8]
        do {
            encIdentity = [UInt8](try AES._CFB.encrypt(sized(credential), using: SymmetricKey(data: symKey), iv: try AES._CFB.IV(ivBytes: [UInt8](repeating: 0, count: 16))))
        } catch {
            throw AttestationError(.credentialUnsupportedEK, "AES-CFB failed")
        }
        let hmacKey = try KeyDerivation.kdfa(nameAlg, key: seed, label: "INTEGRITY", contextU: [], contextV: [], bits: digestSize * 8)
        let integrity = try KeyDerivation.hmac(nameAlg, key: hmacKey, message: encIdentity + objectName)
        return CredentialChallenge(idObject: sized(sized(integrity) + encIdentity), encryptedSecret: encryptedSecret)
    }

    static func sized(_ bytes: [UInt8]) -> [UInt8] {
        var w = WireWriter()
        w.write(sized: bytes)
        return w.bytes
    }

    static func randomBytes(_ n: Int) throws(AttestationError) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }
}

/// RSAES-OAEP encryption (RFC 8017, 7.1.1) with a label, which the platform RSA API does not offer: EME-OAEP
/// encoding here, then the public-key operation m^e mod n. Only public values and the OAEP-encoded seed are
/// involved; the modular exponentiation is not constant-time (see docs/region.md).
enum RSAOAEP {
    static func encrypt(_ message: [UInt8], modulus: [UInt8], exponent: UInt32, keyBits: Int, hash: TPMAlgorithm, label: [UInt8],
                        oaepSeed: [UInt8]?) throws(AttestationError) -> [UInt8] {
        let k = modulus.count
        guard k == keyBits / 8, k >= 128, let hLen = hash.digestSize else {
            throw AttestationError(.credentialUnsupportedEK, "the EK's RSA modulus is \(k * 8) bits")
        }
        guard message.count <= k - 2 * hLen - 2 else { throw AttestationError(.credentialBadInput, "message too long for OAEP") }
        let lHash = try KeyDerivation.digest(hash, label)
        let ps = [UInt8](repeating: 0, count: k - message.count - 2 * hLen - 2)
        let db = lHash + ps + [1] + message
        let seed: [UInt8]
        if let oaepSeed { seed = oaepSeed } else { seed = try MakeCredential.randomBytes(hLen) }
        guard seed.count == hLen else { throw AttestationError(.credentialBadInput, "the OAEP seed must be \(hLen) bytes") }
        let dbMask = try mgf1(seed, length: k - hLen - 1, hash: hash)
        let maskedDB = zip(db, dbMask).map { $0 ^ $1 }
        let seedMask = try mgf1(maskedDB, length: hLen, hash: hash)
        let maskedSeed = zip(seed, seedMask).map { $0 ^ $1 }
        let em = [0] + maskedSeed + maskedDB
        let n = BigUInt(Data(modulus))
        let e = BigUInt(exponent == 0 ? 65537 : exponent)
        guard e >= 3, e % 2 == 1, n > 0, n % 2 == 1 else { throw AttestationError(.credentialUnsupportedEK, "the EK's RSA key is not usable") }
        let m = BigUInt(Data(em))
        guard m < n else { throw AttestationError(.credentialUnsupportedEK, "the EK's RSA modulus is too small") }
        let c = [UInt8](m.power(e, modulus: n).serialize())
        return [UInt8](repeating: 0, count: k - c.count) + c
    }

    /// MGF1 (RFC 8017, B.2.1).
    static func mgf1(_ seed: [UInt8], length: Int, hash: TPMAlgorithm) throws(AttestationError) -> [UInt8] {
        var out: [UInt8] = []
        var counter: UInt32 = 0
        while out.count < length {
            out += try KeyDerivation.digest(hash, seed + KeyDerivation.bigEndian32(counter))
            counter += 1
        }
        return Array(out.prefix(length))
    }
}

/// ECDH with an ephemeral key on the EK's curve: Z is the x-coordinate of the shared point.
enum ECDHShared {
    static func compute(curve: ECCCurve, x: [UInt8], y: [UInt8], scalar: [UInt8]?) throws(AttestationError)
        -> (z: [UInt8], ephemeralX: [UInt8], ephemeralY: [UInt8], ekX: [UInt8]) {
        guard let size = curve.coordinateSize, !x.isEmpty, !y.isEmpty, x.count <= size, y.count <= size else {
            throw AttestationError(.credentialUnsupportedEK, "the EK's curve \(curve) or point is not usable")
        }
        let ekX = AttestationKey.leftPad(x, size)
        let point = [0x04] + ekX + AttestationKey.leftPad(y, size)
        do {
            switch curve {
            case .nistP256:
                let ek = try P256.KeyAgreement.PublicKey(x963Representation: point)
                let eph = try scalar.map { try P256.KeyAgreement.PrivateKey(rawRepresentation: $0) } ?? P256.KeyAgreement.PrivateKey()
                let z = try eph.sharedSecretFromKeyAgreement(with: ek).withUnsafeBytes { [UInt8]($0) }
                let pub = [UInt8](eph.publicKey.x963Representation)
                return (z, Array(pub[1...size]), Array(pub[(size + 1)...]), ekX)
            case .nistP384:
                let ek = try P384.KeyAgreement.PublicKey(x963Representation: point)
                let eph = try scalar.map { try P384.KeyAgreement.PrivateKey(rawRepresentation: $0) } ?? P384.KeyAgreement.PrivateKey()
                let z = try eph.sharedSecretFromKeyAgreement(with: ek).withUnsafeBytes { [UInt8]($0) }
                let pub = [UInt8](eph.publicKey.x963Representation)
                return (z, Array(pub[1...size]), Array(pub[(size + 1)...]), ekX)
            default:
                throw AttestationError(.credentialUnsupportedEK, "the EK's curve \(curve) is not supported")
            }
        } catch let e as AttestationError {
            throw e
        } catch {
            throw AttestationError(.credentialUnsupportedEK, "the EK's point is not on \(curve)")
        }
    }
}
