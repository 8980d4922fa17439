import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOPosix
import RegionTCB
import SmigTestSupport
import Testing
import TPM

/// Webhook notifications: a real HTTP receiver on loopback (Hummingbird, in this process) that refuses the first
/// two deliveries; the notifier retries with back-off, delivers in order, and every body carries a valid signature
/// by the RC-TCB's key over its exact bytes.
@Suite("Webhooks")
struct WebhookTests {
    /// What the receiver saw: every attempt, and the accepted bodies with their signature headers, in order.
    actor Received {
        var attempts = 0
        var accepted: [(body: Data, signature: String)] = []
        func attempt(_ body: Data, _ signature: String) -> Bool {
            attempts += 1
            guard attempts > 2 else { return false }
            accepted.append((body, signature))
            return true
        }
    }

    final class PortBox: @unchecked Sendable {
        // @unchecked Sendable: `port` is guarded by `lock`.
        let lock = NSLock()
        var port: Int?
    }

    @Test func retriedSignedAndInOrder() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-hook-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let received = Received()
        let key = P256.Signing.PrivateKey()
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = Data(try await request.body.collect(upTo: 1 << 20).readableBytesView)
            let ok = await received.attempt(body, request.headers.first { $0.name.canonicalName == WebhookNotifier.signatureHeader.lowercased() }?.value ?? "")
            return Response(status: ok ? .noContent : .serviceUnavailable)
        }
        let box = PortBox()
        // Receiver and notifier on event loops of their own: in the full suite NIO's shared loops and the
        // cooperative pool are busy with every other test, which is not what this test measures.
        let receiverLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let notifierLoops = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in box.lock.withLock { box.port = channel.localAddress?.port } },
                              eventLoopGroupProvider: .shared(receiverLoops))
        let server = Task { try await app.runService() }
        var notifierTask: Task<Void, any Error>?
        // Torn down in order, whatever happens: the notifier stops (no delivery may reach a server that is going
        // away), then the receiver, then their event loops.
        func tearDown() async {
            notifierTask?.cancel()
            _ = await notifierTask?.result
            server.cancel()
            _ = await server.result
            try? await notifierLoops.shutdownGracefully()
            try? await receiverLoops.shutdownGracefully()
        }
        do {
            try await waitUntilAsync("the receiver listens", seconds: 600) { box.lock.withLock { box.port } != nil }
            let port = try #require(box.lock.withLock { box.port })

            let store = try IVTStore(path: dir.appendingPathComponent("ivt.sqlite").path)
            try store.seed(hosts: [("host-1", "127.0.0.1", nil)], policyName: "hooks", policyDigest: "-")
            try store.audit(host: "host-1", kind: "evacuation.started", code: nil, detail: "before the notifier: never sent")
            let notifier = WebhookNotifier(urls: ["http://127.0.0.1:\(port)/hook"], store: store, key: key, region: "hooks",
                                           logger: Logger(label: "test"), attempts: 8, firstBackoff: .milliseconds(100),
                                           startAfter: try store.lastEventSeq(), eventLoopGroup: notifierLoops)
            notifierTask = Task { try await notifier.run() }

            try store.set(.init(state: .untrusted, code: "golden.digest-not-allowed", detail: "hypervisor changed"), to: "host-1")
            try store.audit(host: "host-1", kind: "evacuation.started", code: "golden.digest-not-allowed", detail: "1 VM(s): vm-a")
            try store.audit(host: "host-1", kind: "enrolled", code: nil, detail: "not a notified kind")

            // Delivery is at least once (an answer slower than the notifier's read time-out is retried): wait for
            // two distinct notifications, not two deliveries.
            try await waitUntilAsync("two distinct notifications delivered", seconds: 600) {
                Set(await received.accepted.compactMap { try? JSONDecoder().decode(WebhookNotifier.Notification.self, from: $0.body, options: .iso8601).seq }).count >= 2
            }
            try await Task.sleep(for: .milliseconds(500))
        } catch {
            await tearDown()
            throw error
        }
        await tearDown()
        let accepted = await received.accepted
        // A receiver may see a notification twice and tells them apart by `seq`.
        #expect(accepted.count >= 2, "\(accepted.map { String(decoding: $0.body, as: UTF8.self) })")
        #expect(await received.attempts >= 4, "two refused, then at least two delivered")
        var kinds: [String] = []
        var seqs: [Int64] = []
        for (body, sigText) in accepted {
            let sig = try P256.Signing.ECDSASignature(derRepresentation: try #require(Data(base64Encoded: sigText)))
            #expect(key.publicKey.isValidSignature(sig, for: body), "signature of \(String(decoding: body, as: UTF8.self))")
            var tampered = body
            tampered[tampered.startIndex] ^= 0x01
            #expect(!key.publicKey.isValidSignature(sig, for: tampered))
            let n = try JSONDecoder().decode(WebhookNotifier.Notification.self, from: body, options: .iso8601)
            kinds.append(n.kind)
            seqs.append(n.seq)
            #expect(n.region == "hooks" && n.host == "host-1")
        }
        var seen: Set<Int64> = []
        let distinct = zip(seqs, kinds).filter { seen.insert($0.0).inserted }
        #expect(distinct.map(\.1) == ["state", "evacuation.started"], "\(kinds)")
        #expect(seqs == seqs.sorted())
    }
}

extension JSONDecoder {
    func decode<T: Decodable>(_ type: T.Type, from data: Data, options: DateDecodingStrategy) throws -> T {
        let d = JSONDecoder()
        d.dateDecodingStrategy = options
        return try d.decode(type, from: data)
    }
}
