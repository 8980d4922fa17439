import Crypto
import Foundation
import Logging
import RegionTCB
import SmigTestSupport
import Testing
import TPM

/// Webhook notifications: a real HTTP receiver (python3's http.server) that refuses the first two deliveries;
/// the notifier retries with back-off, delivers in order, and every body carries a valid signature by the
/// RC-TCB's key over its exact bytes.
@Suite("Webhooks")
struct WebhookTests {
    static let receiver = """
        import http.server, sys, os
        out = sys.argv[1]
        seen = [0]
        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                seen[0] += 1
                open(os.path.join(out, 'attempts'), 'w').write(str(seen[0]))
                if seen[0] <= 2:
                    self.send_response(503); self.end_headers(); return
                n = len([f for f in os.listdir(out) if f.endswith('.json')])
                open(os.path.join(out, '%03d.json' % n), 'wb').write(body)
                open(os.path.join(out, '%03d.sig' % n), 'w').write(self.headers['Smig-Signature'] or '')
                self.send_response(204); self.end_headers()
            def log_message(self, *a): pass
        server = http.server.HTTPServer(('127.0.0.1', 0), H)
        open(os.path.join(out, 'ready.tmp'), 'w').write(str(server.server_address[1]))
        os.rename(os.path.join(out, 'ready.tmp'), os.path.join(out, 'ready'))
        server.serve_forever()
        """

    @Test func retriedSignedAndInOrder() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-hook-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let script = dir.appendingPathComponent("receiver.py").path
        try Data(Self.receiver.utf8).write(to: URL(fileURLWithPath: script))
        let received = dir.appendingPathComponent("received")
        try FileManager.default.createDirectory(at: received, withIntermediateDirectories: true)
        // The receiver binds a port the OS chooses and writes it to `ready`: no window in which another test
        // could take a port picked in advance.
        let receiverLog = dir.appendingPathComponent("receiver.log")
        let server = try Daemon("/usr/bin/python3", [script, received.path], log: receiverLog)
        defer { server.stop() }
        let ready = received.appendingPathComponent("ready")
        do {
            try await waitUntilAsync("the receiver listens", seconds: 120) { FileManager.default.fileExists(atPath: ready.path) }
        } catch {
            Issue.record("receiver log: \((try? String(contentsOf: receiverLog, encoding: .utf8)) ?? "-")")
            throw error
        }
        let port = try #require(Int(try String(contentsOf: ready, encoding: .utf8)))

        let store = try IVTStore(path: dir.appendingPathComponent("ivt.sqlite").path)
        try store.seed(hosts: [("host-1", "127.0.0.1", nil)], policyName: "hooks", policyDigest: "-")
        try store.audit(host: "host-1", kind: "evacuation.started", code: nil, detail: "before the notifier: never sent")
        let key = P256.Signing.PrivateKey()
        let notifier = WebhookNotifier(urls: ["http://127.0.0.1:\(port)/hook"], store: store, key: key, region: "hooks",
                                       logger: Logger(label: "test"), attempts: 8, firstBackoff: .milliseconds(100),
                                       startAfter: try store.lastEventSeq())
        let task = Task { try await notifier.run() }
        defer { task.cancel() }

        try store.apply(.init(state: .untrusted, code: "golden.digest-not-allowed", detail: "hypervisor changed"), to: "host-1")
        try store.audit(host: "host-1", kind: "evacuation.started", code: "golden.digest-not-allowed", detail: "1 VM(s): vm-a")
        try store.audit(host: "host-1", kind: "enrolled", code: nil, detail: "not a notified kind")

        try await waitUntilAsync("two notifications delivered", seconds: 240) {
            ((try? FileManager.default.contentsOfDirectory(atPath: received.path)) ?? []).filter { $0.hasSuffix(".json") }.count >= 2
        }
        try await Task.sleep(for: .milliseconds(500))
        let files = try FileManager.default.contentsOfDirectory(atPath: received.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(files.count == 2, "\(files)")
        let attempts = try String(contentsOf: received.appendingPathComponent("attempts"), encoding: .utf8)
        #expect(Int(attempts) == 4, "two refused, then two delivered: \(attempts)")
        var kinds: [String] = []
        var seqs: [Int64] = []
        for f in files {
            let body = try Data(contentsOf: received.appendingPathComponent(f))
            let sigText = try String(contentsOf: received.appendingPathComponent(f.replacingOccurrences(of: ".json", with: ".sig")), encoding: .utf8)
            let sig = try P256.Signing.ECDSASignature(derRepresentation: try #require(Data(base64Encoded: sigText)))
            #expect(key.publicKey.isValidSignature(sig, for: body), "signature of \(f)")
            var tampered = body
            tampered[tampered.startIndex] ^= 0x01
            #expect(!key.publicKey.isValidSignature(sig, for: tampered))
            let n = try JSONDecoder().decode(WebhookNotifier.Notification.self, from: body, options: .iso8601)
            kinds.append(n.kind)
            seqs.append(n.seq)
            #expect(n.region == "hooks" && n.host == "host-1")
        }
        #expect(kinds == ["state", "evacuation.started"])
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
