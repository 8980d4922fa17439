import Foundation
import SmigTestSupport
import Testing

/// What an operator gets wrong most often, through the real binary: each is one coded error line (a JSON object
/// under --json) naming what is wrong, with a hint — never a TLS library's, NIO's or a decoder's own message.
@Suite("Operator mistakes as coded errors", .serialized)
struct OperatorErrorCLITests {
    /// `--json` error fields of `args`, after checking the exit status and that no raw library text leaked.
    static func error(_ args: [String], env: [String: String] = [:], status: Int32) throws -> [String: String] {
        let r = try Run.smig(args + ["--json"], env: env)
        #expect(r.status == status, "\(r.output)")
        for raw in ["BoringSSL", "/.build/", "errno", "DecodingError", "HTTPClientError", "NIOSSL"] {
            #expect(!r.output.contains(raw), "\(raw) in: \(r.output)")
        }
        let error = try r.jsonError()
        #expect(error["hint"]?.isEmpty == false, "\(r.output)")
        return error
    }

    /// The `--json` error fields of a run, nil when it printed none.
    static func errorOf(_ r: Run) -> [String: String]? { try? r.jsonError() }

    @Test func aDirectoryThatIsNotARegionDirectory() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("smig-empty-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        let e = try Self.error(["ivt", "--rctcb", "https://127.0.0.1:1", "--dir", empty], status: 2)
        #expect(e["code"] == "rctcb.directory-missing")
        #expect(e["message"]?.contains(empty) == true && e["message"]?.contains("admin.pem") == true, "\(e)")
    }

    @Test func aPortAlreadyInUse() throws {
        let r = try RegionFixture()
        let (first, url) = try r.serve("first")
        defer { first.stop() }
        let port = try #require(URLComponents(string: url)?.port)
        let other = try RegionFixture()
        let e = try Self.error(["rctcb", "serve", "--region", other.region, "--dir", other.dir, "--port", "\(port)"], status: 1)
        #expect(e["code"] == "rctcb.address-in-use")
        #expect(e["message"]?.contains("127.0.0.1:\(port)") == true, "\(e)")
        #expect(first.process.isRunning)
    }

    @Test func aClientGivenTheWrongCA() throws {
        let r = try RegionFixture()
        let (server, url) = try r.serve("server")
        defer { server.stop() }
        // Another region's directory: its CA did not issue this RC-TCB's certificate.
        let other = try RegionFixture()
        // Through a relay that counts connections: the client tries once and fails at once, no retries.
        let relay = try CountingRelay(to: try #require(URLComponents(string: url)?.port))
        defer { relay.stop() }
        let wrong = try Self.error(["ivt", "--rctcb", "https://127.0.0.1:\(relay.port)", "--dir", other.dir], status: 2)
        #expect(wrong["code"] == "tls.server-not-trusted")
        #expect(wrong["message"]?.contains("\(other.dir)/region-ca.pem") == true, "\(wrong)")
        #expect(relay.accepted == 1, "a handshake with an untrusted server is not retried")
        // A CA file that is no certificate at all.
        try Data("not a certificate\n".utf8).write(to: URL(fileURLWithPath: "\(other.dir)/region-ca.pem"))
        let garbage = try Self.error(["ivt", "--rctcb", url, "--dir", other.dir], status: 2)
        #expect(garbage["code"] == "tls.bad-ca-file")
        #expect(garbage["message"]?.contains("\(other.dir)/region-ca.pem") == true, "\(garbage)")
        // The right directory works.
        #expect(try Run.smig(["ivt", "--rctcb", url, "--dir", r.dir, "--json"]).status == 0)
    }

    /// `agent enrol --ca` with another region's CA, with a file that is no certificate, and a URL without a scheme.
    @Test func anAgentGivenTheWrongCAOrURL() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let r = try RegionFixture()
        let (server, url) = try r.serve("server")
        defer { server.stop() }
        let other = try RegionFixture()
        let enrol = ["agent", "enrol", "--host-id", "host-a"]
        let relay = try CountingRelay(to: try #require(URLComponents(string: url)?.port))
        defer { relay.stop() }
        let wrong = try Self.error(enrol + ["--rctcb", "https://127.0.0.1:\(relay.port)", "--ca", "\(other.dir)/region-ca.pem"], env: w.env, status: 2)
        #expect(wrong["code"] == "tls.server-not-trusted")
        #expect(relay.accepted == 1, "a handshake with an untrusted server is not retried")
        #expect(wrong["message"]?.contains("\(other.dir)/region-ca.pem") == true, "\(wrong)")
        let notACertificate = w.path("not-a-ca.pem")
        try Data("-----BEGIN CERTIFICATE-----\nnonsense\n-----END CERTIFICATE-----\n".utf8).write(to: URL(fileURLWithPath: notACertificate))
        let garbage = try Self.error(enrol + ["--rctcb", url, "--ca", notACertificate], env: w.env, status: 2)
        #expect(garbage["code"] == "tls.bad-ca-file")
        #expect(garbage["message"]?.contains(notACertificate) == true, "\(garbage)")
        let noScheme = try Self.error(enrol + ["--rctcb", "127.0.0.1:28443", "--ca", "\(r.dir)/region-ca.pem"], env: w.env, status: 2)
        #expect(noScheme["code"] == "transport.bad-url" && noScheme["message"]?.contains("https://HOST:PORT") == true, "\(noScheme)")
        #expect(!FileManager.default.fileExists(atPath: "\(w.state)/tls.pem"), "nothing was enrolled")
    }

    /// `agent run` whose quote endpoint's port another process (here the RC-TCB) listens on.
    @Test func anAgentOnAPortInUse() throws {
        let a = try EnrolledAgent()
        let config = try a.writeConfig(["listenPort": a.port])
        let e = try Self.error(["agent", "run", "--config", config], env: a.world.env, status: 1)
        #expect(e["code"] == "agent.address-in-use", "\(e)")
        #expect(e["message"]?.contains("127.0.0.1:\(a.port)") == true, "\(e)")
        #expect(a.server.process.isRunning)
    }

    /// `golden capture --source kernel-modules` where /proc lists no modules (a /proc of process directories
    /// only, in a mount namespace of its own: a kernel without loadable modules looks like this).
    @Test func kernelModulesWithoutProcModules() throws {
        let binary = try TestBinaries.smigAttest()
        let r = try Run.tool("unshare", ["-m", "sh", "-c", "mount -t proc -o subset=pid proc /proc && exec \"$0\" golden capture --source kernel-modules",
                                         binary])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("smig-attest: measure.no-kernel-modules: /proc/modules does not exist") && r.output.contains("(hint: "), "\(r.output)")
    }

    @Test(arguments: ["127.0.0.1:28443", "http://127.0.0.1:28443", "https://127.0.0.1:28443/v1"])
    func anRCTCBURLThatIsNotHTTPSHostPort(_ url: String) throws {
        let r = try RegionFixture()
        let e = try Self.error(["ivt", "--rctcb", url, "--dir", r.dir], status: 2)
        #expect(e["code"] == "transport.bad-url")
        #expect(e["message"]?.contains(url) == true && e["message"]?.contains("https://HOST:PORT") == true, "\(e)")
    }

    /// `agent run --config` with a key missing, a misspelt key, a key of the wrong kind, text that is not JSON and an
    /// RC-TCB URL without a scheme: each a coded error naming the file, line and column (and a did-you-mean for a
    /// misspelt key).
    @Test func anAgentConfigurationThatIsWrong() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-agent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good: [String: Any] = ["hostId": "host-a", "rctcb": "https://127.0.0.1:8443", "stateDirectory": dir.path, "listenAddress": "127.0.0.1",
                                   "listenPort": 0, "sources": [String](), "measurementInterval": 30, "challengeInterval": 60,
                                   "challengeTimeout": 5, "push": true]
        /// The file, and the line and column where `key` (or its value) is written in it.
        func config(_ change: (inout [String: Any]) -> Void, at key: String? = nil, value: Bool = false) throws -> (file: String, place: String) {
            var object = good
            change(&object)
            let path = dir.appendingPathComponent("agent-\(UUID().uuidString).json").path
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            try data.write(to: URL(fileURLWithPath: path))
            guard let key else { return (path, ":1:1:") }
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            let line = try #require(lines.firstIndex { $0.contains("\"\(key)\"") })
            let text = lines[line]
            var column = text.distance(from: text.startIndex, to: try #require(text.firstIndex(of: "\""))) + 1
            if value {
                let colon = try #require(text.firstIndex(of: ":"))
                let start = try #require(text[text.index(after: colon)...].firstIndex { $0 != " " })
                column = text.distance(from: text.startIndex, to: start) + 1
            }
            return (path, ":\(line + 1):\(column):")
        }
        let qemu: [String: Any] = ["vmManager": "qemu", "vmManagerURI": "/var/lib/smig-attest/vms", "vmImageDirectory": "/var/lib/smig-attest/images",
                                   "migrationAddress": "tcp:10.0.0.12:47000-47099"]
        func raw(_ text: String) throws -> (file: String, place: String) {
            let path = dir.appendingPathComponent("agent-\(UUID().uuidString).json").path
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            return (path, ":2:")
        }
        let cases: [(config: (file: String, place: String), code: String, says: String)] = [
            (try config { $0["rctcb"] = nil }, "agent.config-missing-key", "missing the required key 'rctcb'"),
            (try config({ $0["newConnectionsPerSecond"] = -1 }, at: "newConnectionsPerSecond", value: true), "agent.config-bad-value",
             "is not a rate (0 for no limit, up to 1000000)"),
            (try config({ $0["measurementInterval"] = "often" }, at: "measurementInterval", value: true), "agent.config-wrong-type",
             "'measurementInterval' must be a number"),
            (try config({ $0["hostID"] = $0.removeValue(forKey: "hostId") }, at: "hostID"), "agent.config-unknown-key", "did you mean 'hostId'?"),
            (try config({ $0["bootlog"] = "" }, at: "bootlog"), "agent.config-unknown-key", "did you mean 'bootLog'?"),
            (try config({ $0["rctcb"] = "127.0.0.1:28443" }, at: "rctcb", value: true), "agent.config-bad-value", "https://HOST:PORT"),
            (try raw("{\"hostId\": \"host-a\",\n  \"push\": true,,\n}"), "agent.config-syntax", "not JSON: did not find expected node content"),
            // The qemu VM manager: its directory, images and where a receiving QEMU listens, each named where it is wrong.
            (try config({ $0.merge(qemu) { $1 }; $0["vmManagerURI"] = "vms" }, at: "vmManagerURI", value: true), "agent.config-bad-value",
             "absolute path of the VMs' directory"),
            (try config({ $0.merge(qemu) { $1 }; $0["migrationAddress"] = "qemu+tcp://10.0.0.12/system" }, at: "migrationAddress", value: true),
             "agent.config-bad-value", "tcp:ADDRESS:LOW-HIGH"),
            (try config({ $0.merge(qemu) { $1 }; $0["vmImageDirectory"] = "images" }, at: "vmImageDirectory", value: true), "agent.config-bad-value",
             "directory of the VMs' boot images"),
            (try config({ $0.merge(qemu) { $1 }; $0["vmManager"] = "libvirt" }, at: "vmImageDirectory", value: true), "agent.config-bad-value",
             "only for vmManager qemu"),
            (try config({ $0.merge(qemu) { $1 }; $0["vmManager"] = "xm" }, at: "vmManager", value: true), "agent.config-bad-value",
             "is not a VM manager"),
        ]
        for c in cases {
            let e = try Self.error(["agent", "run", "--config", c.config.file], status: 2)
            let all = (e["message"] ?? "") + " (hint: \(e["hint"] ?? ""))"
            #expect(e["code"] == c.code, "\(e)")
            #expect(all.contains(c.config.file + c.config.place) && all.contains(c.says), "\(e)")
        }
    }
}
