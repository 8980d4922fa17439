import Foundation

/// The RC-TCB's directory (`rctcb init --dir`): the region CA, the RC-TCB's server identity, the operator's
/// admin identity, the EK CA bundle and the IVT database.
///
/// ```
/// DIR/region-ca.key   region CA private key (0600)      DIR/region-ca.pem   region CA certificate (the trust anchor)
/// with an offline root (`rctcb init --root-ca`): no region-ca.key; region-ca.pem is the root certificate and
/// DIR/issuing-ca.key  issuing CA key (0600)            DIR/issuing-ca.pem  issuing CA certificate (signed by the root)
/// DIR/rctcb.key       server TLS key (0600)             DIR/rctcb.pem       server certificate
/// DIR/admin.key       operator's client key (0600)      DIR/admin.pem       operator's client certificate
/// DIR/ek-ca/*.pem     CAs trusted to certify EKs        DIR/ivt.sqlite      the IVT (SQLite, WAL)
/// DIR/rctcb.lock      held by the running `rctcb serve` (its pid)
/// ```
package struct RegionDirectory: Sendable {
    package let path: String

    package init(_ path: String) {
        self.path = URL(fileURLWithPath: path).standardizedFileURL.path
    }

    package var caKey: String { "\(path)/region-ca.key" }
    package var caCertificate: String { "\(path)/region-ca.pem" }
    /// With an offline root: the online issuing CA that signs the region's certificates.
    package var issuingKey: String { "\(path)/issuing-ca.key" }
    package var issuingCertificate: String { "\(path)/issuing-ca.pem" }
    package var serverKey: String { "\(path)/rctcb.key" }
    package var serverCertificate: String { "\(path)/rctcb.pem" }
    package var adminKey: String { "\(path)/admin.key" }
    package var adminCertificate: String { "\(path)/admin.pem" }
    package var ekCADirectory: String { "\(path)/ek-ca" }
    package var database: String { "\(path)/ivt.sqlite" }
    /// The VM inventory the RC-TCB moves VMs by (the same file `smig-attest vm … --state-dir DIR` writes).
    package var inventory: String { "\(path)/vms.sqlite" }
    /// Locked by the running `rctcb serve` for its whole life (``DirectoryLock``); holds its pid.
    package var lockFile: String { "\(path)/rctcb.lock" }

    /// Fails with a coded error when the directory was not made by `rctcb init`.
    package func requireInitialised() throws(RegionError) {
        guard FileManager.default.fileExists(atPath: caCertificate), FileManager.default.fileExists(atPath: database) else {
            throw RegionError(.directoryMissing, "\(path) is not an RC-TCB directory (run: smig-attest rctcb init --region FILE --dir \(path))")
        }
    }

    /// Fails with a coded error naming what is missing when the directory does not hold the operator's identity
    /// (admin.pem, admin.key, region-ca.pem): all that `ivt`, `ring`, `events` and `evacuations` need of it.
    package func requireAdminIdentity() throws(RegionError) {
        let missing = [adminCertificate, adminKey, caCertificate].filter { !FileManager.default.fileExists(atPath: $0) }
        guard missing.isEmpty else {
            let names = missing.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: ", ")
            throw RegionError(.directoryMissing, "\(path) is not an RC-TCB directory: it has no \(names) "
                              + "(hint: give --dir the directory rctcb init made, or a copy of its admin.pem, admin.key and region-ca.pem)")
        }
    }

    /// The PEM certificates in `ek-ca/`: the roots (and intermediates) an EK certificate must chain to.
    package func ekCertificateAuthorities() throws(RegionError) -> [[UInt8]] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: ekCADirectory)) ?? []).filter { $0.hasSuffix(".pem") }.sorted()
        var out: [[UInt8]] = []
        for name in names { out.append(try SecureFile.read("\(ekCADirectory)/\(name)", secret: false)) }
        return out
    }
}
