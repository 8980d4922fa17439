package import Crypto
package import Foundation
package import X509
import SwiftASN1

/// An operator's root CA given to `rctcb init --root-ca FILE --root-ca-key FILE`: read, checked, used once to sign
/// the region's online issuing CA, and never written into the RC-TCB directory.
package struct OfflineRoot {
    package let certificate: Certificate
    let key: Certificate.PrivateKey
    let signature: Certificate.SignatureAlgorithm

    /// Reads and checks the root: a PEM certificate and its P-256 or P-384 key (PEM), a CA that may have a CA
    /// under it (no path length 0), may sign certificates (keyCertSign, where it states key usage) and is valid
    /// at `now`. Anything else is `rctcb.bad-certificate-file`, `rctcb.bad-key-file` or `rctcb.bad-root-ca`.
    package init(certificate path: String, key keyPath: String, now: Date = Date()) throws(RegionError) {
        let text = String(decoding: try SecureFile.read(path, secret: false), as: UTF8.self)
        guard let certificate = try? Certificate(pemEncoded: text) else {
            throw RegionError(.badCertificateFile, "\(path) is not a PEM certificate (hint: --root-ca takes the offline root's certificate)")
        }
        let keyText = String(decoding: try SecureFile.read(keyPath, secret: true), as: UTF8.self)
        let publicKey: Certificate.PublicKey
        if let p256 = try? P256.Signing.PrivateKey(pemRepresentation: keyText) {
            (key, signature, publicKey) = (Certificate.PrivateKey(p256), .ecdsaWithSHA256, Certificate.PublicKey(p256.publicKey))
        } else if let p384 = try? P384.Signing.PrivateKey(pemRepresentation: keyText) {
            (key, signature, publicKey) = (Certificate.PrivateKey(p384), .ecdsaWithSHA384, Certificate.PublicKey(p384.publicKey))
        } else {
            throw RegionError(.badKeyFile, "\(keyPath) is not a P-256 or P-384 private key in PEM (hint: --root-ca-key takes the root's key)")
        }
        func refuse(_ why: String) -> RegionError {
            RegionError(.badRootCA, "\(path) cannot be the region's offline root: \(why)")
        }
        guard publicKey == certificate.publicKey else { throw refuse("\(keyPath) is not its key (hint: give the key the root certificate was made with)") }
        guard case .isCertificateAuthority(let depth)? = try? certificate.extensions.basicConstraints else {
            throw refuse("it is not a CA certificate (hint: a root has basicConstraints CA:TRUE)")
        }
        if let depth, depth < 1 { throw refuse("its path length \(depth) allows no issuing CA under it (hint: pathlen of 1 or more, or none)") }
        if let usage = try? certificate.extensions.keyUsage, !usage.keyCertSign {
            throw refuse("its key usage lacks keyCertSign (hint: a root that signs CAs has keyUsage keyCertSign)")
        }
        guard certificate.notValidBefore <= now, now < certificate.notValidAfter else {
            throw refuse("it is not valid now (\(certificate.notValidBefore) to \(certificate.notValidAfter)) (hint: check the clock, or renew the root)")
        }
        self.certificate = certificate
    }

    /// The region's online issuing CA, signed by this root.
    func issue(region: String, now: Date) throws -> RegionCA {
        try RegionCA.issuing(region: region, root: certificate, rootKey: key, signature: signature, now: now)
    }
}
