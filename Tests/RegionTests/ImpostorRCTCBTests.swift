import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import Policy
import RegionProtocol
import RegionTCB
import SmigTestSupport
import Testing
import TPMWire
import X509

/// A host holding an agent certificate of the region CA poses as the RC-TCB: agents and operators refuse it,
/// because they require the RC-TCB's certificate to name the address they reach it at, and only the RC-TCB's
/// certificate carries names. An agent's quote endpoint (any region certificate) is still reachable.
@Suite("An impostor RC-TCB")
struct ImpostorRCTCBTests {
    /// The real RC-TCB service over a fresh region directory; `impostor`: it presents an agent certificate of the
    /// region CA instead of its own.
    final class Server: @unchecked Sendable {
        // @unchecked Sendable: `port` is guarded by `lock`.
        let directory: RegionDirectory
        let lock = NSLock()
        var port: Int?
        var task: Task<Void, any Error>?

        init(impostor: Bool) throws {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("impostor-\(UUID().uuidString)").path
            directory = RegionDirectory(path)
            try RegionSetup.initialise(directory, .init(regionName: "impostor-test", hosts: [("host-a", "127.0.0.1", nil)], policyDigest: "",
                                                        ekCertificateAuthorities: [], serverNames: ["localhost", "127.0.0.1"], force: false))
            if impostor {
                let key = P256.Signing.PrivateKey()
                let cert = try RegionSetup.loadCA(directory).issue(for: .init(key.publicKey), identity: RegionIdentity(role: .agent, name: "host-a", akName: "000b" + String(repeating: "00", count: 32)))
                try FileManager.default.removeItem(atPath: directory.serverCertificate)
                try FileManager.default.removeItem(atPath: directory.serverKey)
                try Data(try cert.pem.utf8).write(to: URL(fileURLWithPath: directory.serverCertificate))
                try Data(key.pemRepresentation.utf8).write(to: URL(fileURLWithPath: directory.serverKey))
                chmod(directory.serverKey, 0o600)
            }
            let store = try IVTStore(path: directory.database)
            let region = RegionState(store: store, hosts: [.init(id: "host-a", address: "127.0.0.1", port: 1, golden: nil)], order: ["host-a"],
                                     selection: try PCRSelectionList(parsing: "sha256:0-7,15"), nonceLifetime: 30, logger: Logger(label: "test"),
                                     challenger: NoChallenger.refuse)
            let app = try RCTCBService(directory: directory, region: region, logger: Logger(label: "test"))
                .application(host: "127.0.0.1", port: 0, onRunning: { [self] p in lock.withLock { port = p } })
            task = Task { try await app.runService() }
        }

        func url() async throws -> String {
            // Generous: with every suite running at once, the service's task may wait long for a thread.
            try await waitUntilAsync("the service listens", seconds: 600) { self.lock.withLock { self.port } != nil }
            return "https://127.0.0.1:\(try #require(lock.withLock { port }))/v1/health"
        }

        func stop() async {
            task?.cancel()
            _ = await task?.result
            try? FileManager.default.removeItem(atPath: directory.path)
        }
    }

    /// `failFast`: the client of a command an operator runs (a refused handshake fails at once); without it, a
    /// service's client, which retries a failed connection until its 120 s time-out and then reports the last failure.
    func health(_ server: Server, peer: RegionClient.Peer, failFast: Bool = false) async throws -> Result<[String: String], RegionClient.Failure> {
        let d = server.directory
        let client = try RegionClient(caFile: d.caCertificate, certificate: d.adminCertificate, key: d.adminKey, peer: peer, timeout: .seconds(120),
                                      failFast: failFast)
        let url = try await server.url()
        do {
            let answer: [String: String] = try await client.get(url)
            await client.shutdown()
            return .success(answer)
        } catch {
            await client.shutdown()
            return .failure(error)
        }
    }

    @Test func anAgentCertificateCannotPoseAsTheRCTCB() async throws {
        let impostor = try Server(impostor: true)
        let genuine = try Server(impostor: false)
        // The operator's and the agents' client of the RC-TCB refuse the impostor at the TLS handshake: the same TLS
        // configuration; the operator's fails at once (the agents' would retry the refused handshake for its whole
        // time-out, 120 s, before saying the same).
        switch try await health(impostor, peer: .rctcb, failFast: true) {
        case .success(let answer): Issue.record("the impostor was accepted as the RC-TCB: \(answer)")
        case .failure(let e): #expect(e.code == "tls.server-not-trusted" && e.status == nil, "\(e)")
        }
        // The same server is a region peer all the same (an agent's quote endpoint accepts any region certificate).
        #expect(try await health(impostor, peer: .agent).get() == ["status": "ok"])
        // The genuine RC-TCB's certificate names 127.0.0.1.
        #expect(try await health(genuine, peer: .rctcb).get() == ["status": "ok"])
        await impostor.stop()
        await genuine.stop()
    }
}
