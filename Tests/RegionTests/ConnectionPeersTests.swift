import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOEmbedded
import NIOTLS
@testable import RegionListener
import RegionProtocol
import RegionTCB
import SmigTestSupport
import Synchronization
import Testing
import X509

/// Each connection's peer is read once, at its TLS handshake (``ConnectionPeers``), and every request on it is
/// answered for that peer alone: never for another connection's, not after the connection closed.
@Suite("The peer of each connection")
struct ConnectionPeersTests {
    // MARK: The record's lifecycle (an embedded channel: no TLS handler, so its peer is "no identity")

    @Test func aPeerIsRecordedAtTheHandshakeAndForgottenWhenTheConnectionCloses() async throws {
        let channel = EmbeddedChannel(handler: ConnectionPeerHandler())
        let other = EmbeddedChannel()
        #expect(ConnectionPeers.shared.peer(of: channel) == nil, "nothing before the handshake")
        channel.pipeline.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: nil))
        let recorded = ConnectionPeers.shared.peer(of: channel)
        #expect(recorded == .some(nil), "recorded at the handshake: a connection without a certificate has no identity")
        #expect(ConnectionPeers.shared.peer(of: other) == nil, "another connection does not see it")
        _ = try channel.finish()
        #expect(ConnectionPeers.shared.peer(of: channel) == nil, "forgotten when the connection closed")
        _ = try other.finish()
    }

    @Test func aRecordIsFoundOnlyByItsOwnChannel() async throws {
        let a = EmbeddedChannel(), b = EmbeddedChannel()
        let hostA = RegionIdentity(role: .agent, name: "host-a")
        ConnectionPeers.shared.record(hostA, for: a)
        #expect(ConnectionPeers.shared.peer(of: a) == .some(hostA))
        #expect(ConnectionPeers.shared.peer(of: b) == nil)
        ConnectionPeers.shared.forget(b)
        #expect(ConnectionPeers.shared.peer(of: a) == .some(hostA), "forgetting another channel leaves this one's record")
        ConnectionPeers.shared.forget(a)
        #expect(ConnectionPeers.shared.peer(of: a) == nil)
        _ = try a.finish()
        _ = try b.finish()
    }

    // MARK: Over real TLS: the region's hardened listener and clients with certificates of the region CA

    /// The test route's answer for a peer read from the record its connection's handshake left.
    static func answer(_ peer: String) -> [String: String] { ["peer": peer, "recorded": peer] }

    /// Two hosts' certificates, each on its own kept-alive connection and asked in turns, then on new connections:
    /// every answer names the certificate of the connection it came on.
    @Test func everyRequestIsAnsweredForItsOwnConnectionsCertificate() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("peers-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let directory = RegionDirectory(path)
        try RegionSetup.initialise(directory, .init(regionName: "peers-test", hosts: [("host-a", "127.0.0.1", nil), ("host-b", "127.0.0.1", nil)],
                                                    policyDigest: "", ekCertificateAuthorities: [], serverNames: ["localhost", "127.0.0.1"],
                                                    force: false))
        let ca = try RegionSetup.loadCA(directory)
        func certificate(_ name: String) throws -> (certificate: String, key: String) {
            let key = P256.Signing.PrivateKey()
            let cert = try ca.issue(for: .init(key.publicKey), identity: RegionIdentity(role: .agent, name: name, akName: "000b" + String(repeating: "00", count: 32)))
            let files = ("\(path)/\(name).pem", "\(path)/\(name).key")
            try Data(try cert.pem.utf8).write(to: URL(fileURLWithPath: files.0))
            try Data(key.pemRepresentation.utf8).write(to: URL(fileURLWithPath: files.1))
            return files
        }
        let (a, b) = (try certificate("host-a"), try certificate("host-b"))

        let router = Router(context: RegionRequestContext.self)
        router.get("who") { _, context in
            func named(_ id: RegionIdentity?) -> String { id.map { "\($0.role.rawValue) \($0.name)" } ?? "-" }
            // What the route reads, and what the connection's handshake recorded (which the route must have read).
            let recorded = ConnectionPeers.shared.peer(of: context.channel).map(named) ?? "not recorded"
            let body = RegionJSON.encode(["peer": named(await context.peerIdentity()), "recorded": recorded])
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        let port = Mutex<Int?>(nil)
        let app = Application(router: router,
                              server: try .hardenedTLS(try directory.serverTLSConfiguration(), limits: .rctcb, logger: Logger(label: "test")),
                              configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in port.withLock { $0 = channel.localAddress?.port } },
                              logger: Logger(label: "test"))
        let server = Task { try await app.runService() }
        defer { server.cancel() }
        try await waitUntilAsync("the listener listens", seconds: 600) { port.withLock { $0 } != nil }
        let url = "https://127.0.0.1:\(try #require(port.withLock { $0 }))/who"

        func client(_ files: (certificate: String, key: String)?) throws -> RegionClient {
            try RegionClient(caFile: directory.caCertificate, certificate: files?.certificate ?? directory.adminCertificate,
                             key: files?.key ?? directory.adminKey, peer: .rctcb, timeout: .seconds(120))
        }
        let (asA, asB) = (try client(a), try client(b))
        for _ in 0..<3 {
            #expect(try await asA.get(url, as: [String: String].self) == Self.answer("agent host-a"))
            #expect(try await asB.get(url, as: [String: String].self) == Self.answer("agent host-b"))
        }
        async let fromA = asA.get(url, as: [String: String].self)
        async let fromB = asB.get(url, as: [String: String].self)
        #expect(try await [fromA, fromB] == [Self.answer("agent host-a"), Self.answer("agent host-b")])
        await asA.shutdown()
        await asB.shutdown()

        // New connections, the other way round, and the operator's certificate.
        let (againB, againA, admin) = (try client(b), try client(a), try client(nil))
        #expect(try await againB.get(url, as: [String: String].self) == Self.answer("agent host-b"))
        #expect(try await againA.get(url, as: [String: String].self) == Self.answer("agent host-a"))
        #expect(try await admin.get(url, as: [String: String].self) == Self.answer("admin operator"))
        for c in [againB, againA, admin] { await c.shutdown() }
    }
}
