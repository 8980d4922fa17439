import Crypto
import Foundation
import SmigTestSupport
import SwiftASN1
import Testing
import X509

/// `rctcb init --root-ca ROOT.pem --root-ca-key ROOT.key`: the operator's root signs an online issuing CA and never
/// enters the RC-TCB directory; agents and operators trust the root alone — through the real binary, with a real
/// enrolment and the RC-TCB's mutual-TLS challenges of the agent.
@Suite("Offline root CA", .serialized)
struct OfflineRootCLITests {
    /// A P-384 root written as ROOT.pem and ROOT.key (0600) in `directory`: a CA with `pathLength` (nil: none).
    static func root(in directory: String, name: String = "root", pathLength: Int?, isCA: Bool = true) throws -> (certificate: String, key: String) {
        let key = P384.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Example")
            CommonName("Example offline root \(name)")
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: now.addingTimeInterval(-3600),
            notValidAfter: now.addingTimeInterval(3650 * 24 * 3600), issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA384,
            extensions: try Certificate.Extensions {
                Critical(isCA ? BasicConstraints.isCertificateAuthority(maxPathLength: pathLength) : BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(keyCertSign: isCA, cRLSign: isCA))
                SubjectKeyIdentifier(hash: Certificate.PublicKey(key.publicKey))
            },
            issuerPrivateKey: .init(key))
        let paths = ("\(directory)/\(name).pem", "\(directory)/\(name).key")
        try Data(try certificate.serializeAsPEM().pemString.utf8).write(to: URL(fileURLWithPath: paths.0))
        FileManager.default.createFile(atPath: paths.1, contents: Data(key.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600])
        return paths
    }

    /// A file of mode 0600 that holds no key.
    static func notAKey(in directory: String) throws -> String {
        let path = "\(directory)/not-a-key.pem"
        FileManager.default.createFile(atPath: path, contents: Data("not a key\n".utf8), attributes: [.posixPermissions: 0o600])
        return path
    }

    /// The base64 body of a PEM file's first block (its DER, as text).
    static func body(_ path: String) throws -> String {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        return lines.drop { !$0.hasPrefix("-----BEGIN") }.dropFirst().prefix { !$0.hasPrefix("-----END") }.joined()
    }

    @Test func theRootSignsAnIssuingCAAndStaysOutOfTheDirectory() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("smig-root-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let root = try Self.root(in: scratch, pathLength: nil)
        let port = try CountingRelay.freePort()
        let a = try EnrolledAgent(initArguments: ["--root-ca", root.certificate, "--root-ca-key", root.key], agentPort: port)
        let dir = a.region.dir

        // The directory: the root certificate as region-ca.pem, an issuing CA, and no root key anywhere.
        let rootCertificate = try Self.body(root.certificate)
        let anchor = try Self.body("\(dir)/region-ca.pem")
        #expect(anchor == rootCertificate)
        #expect(FileManager.default.fileExists(atPath: "\(dir)/issuing-ca.key") && !FileManager.default.fileExists(atPath: "\(dir)/region-ca.key"))
        let rootKey = try Self.body(root.key)
        for name in try FileManager.default.contentsOfDirectory(atPath: dir) where name.hasSuffix(".key") {
            let key = try Self.body("\(dir)/\(name)")
            #expect(key != rootKey, "\(name) is the root's key")
        }
        // The agent trusts the root alone, and its certificate comes with the issuing CA's.
        let agentAnchor = try Self.body("\(a.world.state)/region-ca.pem")
        #expect(agentAnchor == rootCertificate)
        let agentChain = try String(contentsOfFile: "\(a.world.state)/tls.pem", encoding: .utf8)
        #expect(agentChain.components(separatedBy: "BEGIN CERTIFICATE").count == 3, "leaf and issuing CA: \(agentChain)")

        // The operator's client and the RC-TCB's challenges of the agent both build the path to the root.
        let agent = try Daemon(try TestBinaries.smigAttest(), ["agent", "run", "--config", try a.writeConfig(["listenPort": port])], environment: a.world.env,
                               log: URL(fileURLWithPath: a.world.path("agent.log")))
        defer { agent.stop() }
        try waitUntil("the RC-TCB verified a quote of host-a over mutual TLS", seconds: 90) {
            let ivt = try Run.smig(["ivt", "--rctcb", a.url, "--dir", dir, "--json"])
            guard ivt.status == 0, let rows = try JSONSerialization.jsonObject(with: Data(ivt.output.utf8)) as? [[String: Any]] else { return false }
            return rows.contains { $0["host"] as? String == "host-a" && $0["lastQuoteAt"] != nil }
        }
    }

    @Test func aRootThatCannotIssueIsRefusedAndNothingIsWritten() throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("smig-root-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let region = try EnrolmentCLITests.regionFile(at: "\(scratch)/region.yaml", hosts: ["host-a", "host-b"])
        let leafOnly = try Self.root(in: scratch, name: "pathlen0", pathLength: 0)
        let notCA = try Self.root(in: scratch, name: "leaf", pathLength: nil, isCA: false)
        let good = try Self.root(in: scratch, name: "good", pathLength: nil)
        let cases: [(certificate: String, key: String, code: String, says: String)] = [
            (leafOnly.certificate, leafOnly.key, "rctcb.bad-root-ca", "path length 0"),
            (notCA.certificate, notCA.key, "rctcb.bad-root-ca", "not a CA"),
            (good.certificate, leafOnly.key, "rctcb.bad-root-ca", "is not its key"),
            (good.certificate, try Self.notAKey(in: scratch), "rctcb.bad-key-file", "P-256 or P-384"),
        ]
        for c in cases {
            let dir = "\(scratch)/rc-\(UUID().uuidString)"
            let e = try OperatorErrorCLITests.error(["rctcb", "init", "--region", region, "--dir", dir, "--root-ca", c.certificate, "--root-ca-key", c.key],
                                                    status: 2)
            #expect(e["code"] == c.code && e["message"]?.contains(c.says) == true, "\(e)")
            #expect(!FileManager.default.fileExists(atPath: dir), "nothing written for \(c.code)")
        }
        let half = try Run.smig(["rctcb", "init", "--region", region, "--dir", "\(scratch)/rc", "--root-ca", good.certificate, "--json"])
        let halfCode = try half.jsonError()["code"]
        #expect(half.status == 2 && halfCode == "usage.invalid", "\(half.output)")
    }
}
