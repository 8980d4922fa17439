import Crypto
import TPMWire

/// The TPM's key derivation functions (TPM 2.0 Part 1, 11.4.10): KDFa (SP 800-108 counter mode with HMAC) and
/// KDFe (SP 800-56A concatenation KDF), over the hash `alg`.
enum KeyDerivation {
    /// KDFa(hashAlg, key, label, contextU, contextV, bits): HMAC(key, [i]₃₂ ‖ label ‖ 00 ‖ contextU ‖ contextV ‖ [bits]₃₂)
    /// for i = 1, 2, …, truncated to `bits` (a multiple of 8 here).
    static func kdfa(_ alg: TPMAlgorithm, key: [UInt8], label: String, contextU: [UInt8], contextV: [UInt8], bits: Int) throws(AttestationError) -> [UInt8] {
        let fixed = Array(label.utf8) + [0] + contextU + contextV + bigEndian32(UInt32(bits))
        var out: [UInt8] = []
        var counter: UInt32 = 1
        while out.count * 8 < bits {
            out += try hmac(alg, key: key, message: bigEndian32(counter) + fixed)
            counter += 1
        }
        return Array(out.prefix(bits / 8))
    }

    /// KDFe(hashAlg, Z, label, partyUInfo, partyVInfo, bits): H([i]₃₂ ‖ Z ‖ label ‖ 00 ‖ partyU ‖ partyV) for
    /// i = 1, 2, …, truncated to `bits`.
    static func kdfe(_ alg: TPMAlgorithm, z: [UInt8], label: String, partyU: [UInt8], partyV: [UInt8], bits: Int) throws(AttestationError) -> [UInt8] {
        let fixed = z + Array(label.utf8) + [0] + partyU + partyV
        var out: [UInt8] = []
        var counter: UInt32 = 1
        while out.count * 8 < bits {
            out += try digest(alg, bigEndian32(counter) + fixed)
            counter += 1
        }
        return Array(out.prefix(bits / 8))
    }

    static func hmac(_ alg: TPMAlgorithm, key: [UInt8], message: [UInt8]) throws(AttestationError) -> [UInt8] {
        let k = SymmetricKey(data: key)
        switch alg {
        case .sha256: return Array(HMAC<SHA256>.authenticationCode(for: message, using: k))
        case .sha384: return Array(HMAC<SHA384>.authenticationCode(for: message, using: k))
        case .sha512: return Array(HMAC<SHA512>.authenticationCode(for: message, using: k))
        default: throw AttestationError(.credentialUnsupportedEK, "name algorithm \(alg.name) is not supported for credentials")
        }
    }

    static func digest(_ alg: TPMAlgorithm, _ message: [UInt8]) throws(AttestationError) -> [UInt8] {
        switch alg {
        case .sha256: return Array(SHA256.hash(data: message))
        case .sha384: return Array(SHA384.hash(data: message))
        case .sha512: return Array(SHA512.hash(data: message))
        default: throw AttestationError(.credentialUnsupportedEK, "name algorithm \(alg.name) is not supported for credentials")
        }
    }

    static func bigEndian32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }
}
