package import Foundation
package import Crypto
import X509
import SwiftASN1
import RegionProtocol

/// `rctcb init`: creates the region CA, the RC-TCB's server identity, the operator's admin identity, the EK CA
/// bundle and an empty IVT in a new directory. Keys are written 0600; nothing is overwritten without `force`.
package enum RegionSetup {
    package struct Options: Sendable {
        package var regionName: String
        package var hosts: [(id: String, address: String, capacity: Int?)]
        package var policyDigest: String
        /// PEM files of the CAs trusted to certify EKs (in tests: swtpm's local CA).
        package var ekCertificateAuthorities: [String]
        /// Names and addresses the RC-TCB is reached at (its server certificate's SANs).
        package var serverNames: [String]
        package var force: Bool
        /// An offline root (`--root-ca`, `--root-ca-key`): it signs an online issuing CA and stays out of the directory.
        package var root: (certificate: String, key: String)?

        package init(regionName: String, hosts: [(id: String, address: String, capacity: Int?)], policyDigest: String,
                    ekCertificateAuthorities: [String], serverNames: [String], force: Bool, root: (certificate: String, key: String)? = nil) {
            self.root = root
            self.regionName = regionName
            self.hosts = hosts
            self.policyDigest = policyDigest
            self.ekCertificateAuthorities = ekCertificateAuthorities
            self.serverNames = serverNames
            self.force = force
        }
    }

    package static func initialise(_ dir: RegionDirectory, _ options: Options, now: Date = Date()) throws(RegionError) {
        let fm = FileManager.default
        if !options.force, fm.fileExists(atPath: dir.caKey) || fm.fileExists(atPath: dir.issuingKey) || fm.fileExists(atPath: dir.database) {
            throw RegionError(.directoryExists, "\(dir.path) already holds a region (use --force to replace its CA, keys and IVT)")
        }
        let root = try options.root.map { (files) throws(RegionError) in try OfflineRoot(certificate: files.certificate, key: files.key, now: now) }
        try SecureFile.directory(dir.path)
        try SecureFile.directory(dir.ekCADirectory)
        var anchors: [(String, [UInt8])] = []
        for path in options.ekCertificateAuthorities {
            let bytes = try SecureFile.read(path, secret: false)
            guard let text = String(bytes: bytes, encoding: .utf8), (try? Certificate(pemEncoded: text)) != nil else {
                throw RegionError(.badCertificateFile, "\(path) is not a PEM certificate")
            }
            // Several TPM vendors (or swtpm local CAs) name their files alike: number them.
            anchors.append((String(format: "%02d-", anchors.count + 1) + URL(fileURLWithPath: path).lastPathComponent, bytes))
        }
        do {
            let ca = try root?.issue(region: options.regionName, now: now) ?? RegionCA.create(region: options.regionName, now: now)
            let serverKey = P256.Signing.PrivateKey()
            let dns = options.serverNames.filter { RegionCA.ipv4($0) == nil }
            let ips = options.serverNames.filter { RegionCA.ipv4($0) != nil }
            let server = try ca.issue(for: .init(serverKey.publicKey), identity: RegionIdentity(role: .rctcb, name: options.regionName),
                                      dnsNames: dns, ipAddresses: ips, now: now, validity: 2 * 365 * 24 * 3600)
            let adminKey = P256.Signing.PrivateKey()
            let admin = try ca.issue(for: .init(adminKey.publicKey), identity: RegionIdentity(role: .admin, name: "operator"), now: now,
                                     validity: 365 * 24 * 3600)
            if options.force {
                for p in [dir.database, dir.database + "-wal", dir.database + "-shm"] { unlink(p) }
            }
            // The CA key: the self-signed region CA's, or (offline root) the issuing CA's — never the root's.
            let (caKey, caCertificate) = ca.root == nil ? (dir.caKey, dir.caCertificate) : (dir.issuingKey, dir.issuingCertificate)
            if options.force {   // what the other kind of region left
                for p in ca.root == nil ? [dir.issuingKey, dir.issuingCertificate] : [dir.caKey] { unlink(p) }
            }
            try SecureFile.write(Array(ca.key.pemRepresentation.utf8), to: caKey, mode: 0o600, replace: options.force)
            try SecureFile.write(Array(try ca.certificate.pem.utf8), to: caCertificate, mode: 0o644, replace: options.force)
            if ca.root != nil {
                try SecureFile.write(Array(try ca.anchor.pem.utf8), to: dir.caCertificate, mode: 0o644, replace: options.force)
            }
            try SecureFile.write(Array(serverKey.pemRepresentation.utf8), to: dir.serverKey, mode: 0o600, replace: options.force)
            try SecureFile.write(Array(try ca.chainPEM(server).utf8), to: dir.serverCertificate, mode: 0o644, replace: options.force)
            try SecureFile.write(Array(adminKey.pemRepresentation.utf8), to: dir.adminKey, mode: 0o600, replace: options.force)
            try SecureFile.write(Array(try ca.chainPEM(admin).utf8), to: dir.adminCertificate, mode: 0o644, replace: options.force)
            for (name, bytes) in anchors {
                try SecureFile.write(bytes, to: "\(dir.ekCADirectory)/\(name)", mode: 0o644, replace: true)
            }
        } catch let e as RegionError {
            throw e
        } catch {
            throw RegionError(.storeFailed, "cannot create the region CA: \(error)")
        }
        let store = try IVTStore(path: dir.database)
        try store.seed(hosts: options.hosts, policyName: options.regionName, policyDigest: options.policyDigest, now: now)
        try store.audit(host: nil, kind: "region-initialised", code: nil, detail: options.regionName, now: now)
    }

    /// The RC-TCB's server key (it also signs webhook notifications).
    package static func loadServerKey(_ dir: RegionDirectory) throws(RegionError) -> P256.Signing.PrivateKey {
        let keyText = String(decoding: try SecureFile.read(dir.serverKey, secret: true), as: UTF8.self)
        guard let key = try? P256.Signing.PrivateKey(pemRepresentation: keyText) else { throw RegionError(.badKeyFile, "\(dir.serverKey) is not a P-256 private key") }
        return key
    }

    /// Loads the region CA from its directory: the issuing CA under the offline root where there is one
    /// (issuing-ca.key), else the self-signed region CA.
    package static func loadCA(_ dir: RegionDirectory) throws(RegionError) -> RegionCA {
        func certificate(_ path: String) throws(RegionError) -> Certificate {
            let text = String(decoding: try SecureFile.read(path, secret: false), as: UTF8.self)
            guard let cert = try? Certificate(pemEncoded: text) else { throw RegionError(.badCertificateFile, "\(path) is not a PEM certificate") }
            return cert
        }
        let offline = FileManager.default.fileExists(atPath: dir.issuingKey)
        let keyPath = offline ? dir.issuingKey : dir.caKey
        let keyText = String(decoding: try SecureFile.read(keyPath, secret: true), as: UTF8.self)
        guard let key = try? P256.Signing.PrivateKey(pemRepresentation: keyText) else { throw RegionError(.badKeyFile, "\(keyPath) is not a P-256 private key") }
        if offline { return RegionCA(certificate: try certificate(dir.issuingCertificate), key: key, root: try certificate(dir.caCertificate)) }
        return RegionCA(certificate: try certificate(dir.caCertificate), key: key)
    }
}
