import Crypto
import Foundation
import Logging
import NIOCore
import NIOSSL
import RegionProtocol
import SwiftASN1
import Synchronization
import X509

/// The agent's region identity as it is in use: the clients to the RC-TCB and to ring neighbours, and the
/// certificate and key its quote endpoint presents. Replaced as a whole when the certificate is renewed; requests
/// under way finish with the clients they started with.
final class AgentIdentity: Sendable {
    struct Current: Sendable {
        var rctcb: RegionClient
        var neighbours: RegionClient
        var chain: [NIOSSLCertificateSource]
        var key: NIOSSLPrivateKeySource
        var notBefore: Date
        var notAfter: Date
    }

    let current: Mutex<Current>

    init(files: AgentIdentityFiles, timeout: TimeAmount) throws {
        current = Mutex(try Self.load(files, timeout: timeout))
    }

    var value: Current { current.withLock { $0 } }

    static func load(_ files: AgentIdentityFiles, timeout: TimeAmount) throws -> Current {
        let rctcb = try RegionClient(caFile: files.regionCA, certificate: files.tlsCertificate, key: files.tlsKey, peer: .rctcb, timeout: timeout)
        let neighbours = try RegionClient(caFile: files.regionCA, certificate: files.tlsCertificate, key: files.tlsKey, peer: .agent, timeout: timeout)
        let chain = try NIOSSLCertificate.fromPEMFile(files.tlsCertificate)
        let key = try NIOSSLPrivateKey(file: files.tlsKey, format: .pem)
        let pem = try String(contentsOfFile: files.tlsCertificate, encoding: .utf8)
        let cert = try leafCertificate(pem)
        return Current(rctcb: rctcb, neighbours: neighbours, chain: chain.map { .certificate($0) }, key: .privateKey(key),
                       notBefore: cert.notValidBefore, notAfter: cert.notValidAfter)
    }

    /// Takes over the identity files as they are now; the clients replaced are shut down after `grace`.
    func reload(_ files: AgentIdentityFiles, timeout: TimeAmount, grace: Duration) throws {
        let fresh = try Self.load(files, timeout: timeout)
        let old = current.withLock { c in
            defer { c = fresh }
            return c
        }
        Task {
            try? await Task.sleep(for: grace)
            await old.rctcb.shutdown()
            await old.neighbours.shutdown()
        }
    }
}

/// The first certificate of a PEM file or answer: the agent's own, which an offline-root region follows with the
/// issuing CA's certificate.
func leafCertificate(_ pem: String) throws -> Certificate {
    guard let first = try PEMDocument.parseMultiple(pemString: pem).first else {
        throw AgentEnrolment.Failure(code: "renew.bad-certificate", message: "no certificate in the PEM text")
    }
    return try Certificate(pemDocument: first)
}
