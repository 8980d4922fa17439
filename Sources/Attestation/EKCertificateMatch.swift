public import TPMWire
import Crypto
import _CryptoExtras
import X509
import SwiftASN1

/// Checks that an EK the TPM made is the key its EK certificate (DER, from NV) certifies.
public enum EKCertificateMatch {
    public enum Outcome: Hashable, Sendable {
        case matches(subject: String, issuer: String)
        case differs(reason: String)
    }

    public static func check(ek: Public, certificateDER: [UInt8]) -> Outcome {
        let cert: Certificate
        do { cert = try Certificate(derEncoded: certificateDER) } catch {
            return .differs(reason: "EK certificate does not parse: \(error)")
        }
        let ekKey: Certificate.PublicKey
        do {
            switch ek.publicArea.parameters {
            case .rsa(_, _, _, let exponent, let modulus):
                let e: [UInt8] = exponent == 0 ? [1, 0, 1] : AttestationKey.bigEndian(exponent)
                ekKey = Certificate.PublicKey(try _RSA.Signing.PublicKey(n: modulus, e: e))
            case .ecc(_, _, let curve, _, let x, let y):
                guard let size = curve.coordinateSize else { return .differs(reason: "EK curve \(curve) is not supported") }
                let point = [0x04] + AttestationKey.leftPad(x, size) + AttestationKey.leftPad(y, size)
                switch curve {
                case .nistP256: ekKey = Certificate.PublicKey(try P256.Signing.PublicKey(x963Representation: point))
                case .nistP384: ekKey = Certificate.PublicKey(try P384.Signing.PublicKey(x963Representation: point))
                default: return .differs(reason: "EK curve \(curve) is not supported")
                }
            }
        } catch {
            return .differs(reason: "EK public key is not usable: \(error)")
        }
        guard ekKey == cert.publicKey else {
            return .differs(reason: "the EK's public key is not the one in the certificate (\(cert.subject))")
        }
        return .matches(subject: String(describing: cert.subject), issuer: String(describing: cert.issuer))
    }
}
