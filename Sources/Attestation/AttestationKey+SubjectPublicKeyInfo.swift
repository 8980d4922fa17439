import Crypto
import Foundation
import _CryptoExtras

extension AttestationKey {
    /// A bare public key as tpm2_checkquote's `-u` takes it: SubjectPublicKeyInfo, PEM or DER. Signatures verify
    /// against it, but nothing is known of its TPM attributes (`attributesChecked` is false).
    public init(subjectPublicKeyInfo bytes: [UInt8]) throws(AttestationError) {
        let text = String(decoding: bytes, as: UTF8.self)
        let isPEM = text.hasPrefix("-----BEGIN PUBLIC KEY-----")
        func attempt<K>(_ pem: (String) throws -> K, _ der: ([UInt8]) throws -> K) -> K? {
            isPEM ? (try? pem(text)) : (try? der(bytes))
        }
        if let k = attempt({ try P256.Signing.PublicKey(pemRepresentation: $0) }, { try P256.Signing.PublicKey(derRepresentation: $0) }) {
            key = .p256(k)
        } else if let k = attempt({ try P384.Signing.PublicKey(pemRepresentation: $0) }, { try P384.Signing.PublicKey(derRepresentation: $0) }) {
            key = .p384(k)
        } else if let k = attempt({ try _RSA.Signing.PublicKey(pemRepresentation: $0) }, { try _RSA.Signing.PublicKey(derRepresentation: $0) }),
                  k.keySizeInBits >= 2048 {
            key = .rsa(k)
        } else {
            throw AttestationError(.malformedKey, "not a P-256, P-384 or RSA (2048 bits or more) SubjectPublicKeyInfo in PEM or DER")
        }
        publicKey = nil
        name = []
    }

    /// The SubjectPublicKeyInfo DER of the key, to compare a bare pinned key with an evidence key.
    public var subjectPublicKeyInfoDER: [UInt8] {
        switch key {
        case .p256(let k): [UInt8](k.derRepresentation)
        case .p384(let k): [UInt8](k.derRepresentation)
        case .rsa(let k): [UInt8](k.derRepresentation)
        }
    }
}
