package import Crypto
package import Foundation
package import X509
import SwiftASN1
package import RegionProtocol

/// The region's certificate authority: it issues the RC-TCB's server certificate, the operator's admin
/// certificate and — after enrolment proves the AK lives in a known TPM — each agent's client certificate,
/// naming its role, host id and AK Name in URI SANs (`RegionIdentity`).
///
/// Self-signed by default. With an offline root (`rctcb init --root-ca`) this is the online issuing CA, signed by a
/// root whose key never enters the RC-TCB directory: the root is the region's trust anchor (`region-ca.pem`), and
/// every certificate issued is handed out with the issuing CA's certificate after it (``chainPEM(_:)``), so TLS
/// peers that trust only the root can build the path.
package struct RegionCA: Sendable {
    package let certificate: Certificate
    let key: P256.Signing.PrivateKey
    /// The offline root above ``certificate``; nil when the CA is its own root.
    package let root: Certificate?

    /// What peers trust: the offline root, else the CA itself.
    package var anchor: Certificate { root ?? certificate }

    /// Certificates are valid for this long; agents renew theirs before (``CertificateRenewal``).
    package static let leafValidity: TimeInterval = 90 * 24 * 3600

    package init(certificate: Certificate, key: P256.Signing.PrivateKey, root: Certificate? = nil) {
        self.certificate = certificate
        self.key = key
        self.root = root
    }

    /// `leaf` in PEM, followed by the issuing CA's certificate when an offline root is above it.
    package func chainPEM(_ leaf: Certificate) throws -> String {
        let pems = [try leaf.pem] + (root == nil ? [] : [try certificate.pem])
        return pems.map { $0.hasSuffix("\n") ? $0 : $0 + "\n" }.joined()
    }

    /// A new issuing CA with a fresh P-256 key, its certificate signed by the offline root (`rootKey`: P-256 or
    /// P-384, the root certificate's own). Valid five years, or until the root expires if sooner.
    package static func issuing(region: String, root: Certificate, rootKey: Certificate.PrivateKey, signature: Certificate.SignatureAlgorithm,
                                now: Date = Date()) throws -> RegionCA {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("smig-attest")
            CommonName("\(region) region issuing CA")
        }
        let notAfter = min(root.notValidAfter, now.addingTimeInterval(5 * 365 * 24 * 3600))
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: max(root.notValidBefore, now.addingTimeInterval(-300)), notValidAfter: notAfter,
            issuer: root.subject, subject: name, signatureAlgorithm: signature,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
                if let id = try root.extensions.subjectKeyIdentifier?.keyIdentifier { AuthorityKeyIdentifier(keyIdentifier: id) }
            },
            issuerPrivateKey: rootKey)
        return RegionCA(certificate: cert, key: key, root: root)
    }

    /// A new CA with a fresh P-256 key and a self-signed certificate for `region`.
    package static func create(region: String, now: Date = Date()) throws -> RegionCA {
        let key = P256.Signing.PrivateKey()
        let name = try DistinguishedName {
            OrganizationName("smig-attest")
            CommonName("\(region) region CA")
        }
        let cert = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: .init(key.publicKey),
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(10 * 365 * 24 * 3600),
            issuer: name, subject: name, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        return RegionCA(certificate: cert, key: key)
    }

    /// Issues a leaf certificate for `publicKey` naming `identity`; server certificates also carry DNS names
    /// and IP addresses.
    package func issue(
        for publicKey: Certificate.PublicKey, identity: RegionIdentity, dnsNames: [String] = [], ipAddresses: [String] = [],
        now: Date = Date(), validity: TimeInterval = RegionCA.leafValidity
    ) throws -> Certificate {
        var sans: [GeneralName] = identity.uris.map { .uniformResourceIdentifier($0) }
        sans += dnsNames.map { .dnsName($0) }
        for ip in ipAddresses {
            if let bytes = Self.ipv4(ip) { sans.append(.ipAddress(ASN1OctetString(contentBytes: bytes[...]))) }
        }
        // The RC-TCB and agents also serve (quotes are fetched from agents); the operator's certificate only connects.
        let server = identity.role != .admin
        return try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(validity),
            issuer: certificate.subject,
            subject: try DistinguishedName {
                OrganizationName("smig-attest")
                CommonName("\(identity.role.rawValue) \(identity.name)")
            },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage(server ? [.serverAuth, .clientAuth] : [.clientAuth])
                SubjectAlternativeNames(sans)
                AuthorityKeyIdentifier(keyIdentifier: try certificate.extensions.subjectKeyIdentifier?.keyIdentifier)
            },
            issuerPrivateKey: .init(key))
    }

    static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for p in parts {
            guard let v = UInt8(p) else { return nil }
            out.append(v)
        }
        return out
    }
}

extension Certificate {
    /// PEM text of the certificate.
    package var pem: String {
        get throws { try serializeAsPEM().pemString }
    }
}
