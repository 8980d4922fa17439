import Foundation
import Testing
import TPMWire

/// The reproductions of hostile policies, JSON and keys, through the real executable: each ends in a coded
/// error and leaves the files it was given as they were.
@Suite("Hostile policies, JSON and keys through the CLI", .serialized)
struct HostileInputCLITests {
    static let digest = String(repeating: "a", count: 64)
    static let golden = """
        kind: golden-values
        version: 1
        name: g
        measurements:
          "file:/a":
            sha256: [\(digest)]
        pcrs:
          sha256:
            0: [\(digest)]

        """

    static func temporary() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-hostile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// `policy check --json FILE` on `text`: exit status and the first error's code; the file is unchanged.
    static func check(_ text: [UInt8], name: String = "p.yaml", extra: [String] = [], in dir: String? = nil) throws -> (Int32, String?) {
        let dir = try dir ?? temporary()
        let path = dir + "/" + name
        try Data(text).write(to: URL(fileURLWithPath: path))
        let r = try Run.smig(["policy", "check", "--json"] + extra + [path])
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(text))
        let results = try JSONSerialization.jsonObject(with: Data(r.output.utf8)) as? [[String: Any]] ?? []
        let code = results.compactMap { ($0["error"] as? [String: Any])?["code"] as? String }.first
        return (r.status, code)
    }

    @Test func aliasCopyingAnotherEntryIsRefused() throws {
        let text = Self.golden.replacingOccurrences(of: "  \"file:/a\":\n", with: "  \"file:/a\": &x\n")
            + "" // the alias below reuses file:/a's digests for file:/b
        let aliased = text.replacingOccurrences(of: "pcrs:", with: "  \"file:/b\": *x\npcrs:")
        let (status, code) = try Self.check(Array(aliased.utf8))
        #expect(status == 1)
        #expect(code == "policy.unsupported-yaml")
    }

    @Test(arguments: ["00", "+0", "0x1"])
    func nonCanonicalPCRKeyIsRefused(_ key: String) throws {
        let text = Self.golden.replacingOccurrences(of: "    0: [", with: "    0: [\(Self.digest)]\n    \(key): [")
        let (status, code) = try Self.check(Array(text.utf8))
        #expect(status == 1)
        #expect(code == "policy.non-canonical-number")
    }

    @Test func byteOrderMarkIsAccepted() throws {
        let (status, code) = try Self.check([0xEF, 0xBB, 0xBF] + Array(Self.golden.utf8))
        #expect(status == 0)
        #expect(code == nil)
    }

    @Test func longDigestListIsChecked() throws {
        var lines = ["kind: golden-values", "version: 1", "name: many", "measurements:", "  \"file:/x\":", "    sha256:"]
        for i in 0..<100_000 {
            let hex = String(i, radix: 16)
            lines.append("      - " + String(repeating: "0", count: 64 - hex.count) + hex)
        }
        let (status, code) = try Self.check(Array((lines.joined(separator: "\n") + "\n").utf8))
        #expect(status == 0)
        #expect(code == nil)
    }

    static func region(golden: String) -> String {
        """
        kind: region
        version: 1
        name: r
        hosts:
          - {id: a, address: 10.0.0.1, port: 8443, golden: "\(golden)"}
          - {id: b, address: 10.0.0.2, port: 8443}
        ring: [a, b]
        intervals: {measurement: 30s, challenge: 60s}
        quote-freshness: 180s
        unreachable-timeout: 90s

        """
    }

    @Test func goldenPathsStayInsideTheRegionDirectory() throws {
        let dir = try Self.temporary()
        try FileManager.default.createDirectory(atPath: dir + "/region", withIntermediateDirectories: true)
        try Data(Self.golden.utf8).write(to: URL(fileURLWithPath: dir + "/outside.golden.yaml"))
        try Data(Self.golden.utf8).write(to: URL(fileURLWithPath: dir + "/region/g.golden.yaml"))
        let escaping = try Self.check(Array(Self.region(golden: "../outside.golden.yaml").utf8), name: "region/r.yaml", in: dir)
        #expect(escaping.0 == 1)
        #expect(escaping.1 == "policy.path-outside-region")
        let absolute = try Self.check(Array(Self.region(golden: dir + "/outside.golden.yaml").utf8), name: "region/r.yaml", in: dir)
        #expect(absolute.0 == 1)
        #expect(absolute.1 == "policy.path-outside-region")
        let allowed = try Self.check(Array(Self.region(golden: dir + "/outside.golden.yaml").utf8), name: "region/r.yaml",
                                     extra: ["--allow-absolute-golden"], in: dir)
        #expect(allowed.0 == 0)
        let beside = try Self.check(Array(Self.region(golden: "g.golden.yaml").utf8), name: "region/r.yaml", in: dir)
        #expect(beside.0 == 0)
    }

    @Test func bundleJSONAndKeysAreReadStrictly() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision", "--ak", "rsa"]).status == 0)
        #expect(try w.smig(["quote", "--nonce", "01010101010101010101010101010101", "--out", w.path("b.json")]).status == 0)
        let text = try String(contentsOfFile: w.path("b.json"), encoding: .utf8)
        func verify(_ bundle: String) throws -> (Int32, String?) {
            try bundle.write(toFile: w.path("x.json"), atomically: true, encoding: .utf8)
            let r = try w.smig(["verify", w.path("x.json"), "--ak-public", w.akPub, "--nonce", "01010101010101010101010101010101", "--json"])
            return (r.status, try r.json()["code"] as? String)
        }
        #expect(try verify(text).0 == 0)
        let duplicate = text.replacingOccurrences(of: #""hostId" : "#, with: #""hostId" : "evil", "hostId" : "#)
        #expect(try verify(duplicate) == (1, "json.duplicate-key"))
        let unknown = text.replacingOccurrences(of: #""hostId" : "#, with: #""trusted" : true, "hostId" : "#)
        #expect(try verify(unknown) == (1, "json.unknown-field"))

        // --previous: a duplicate key is an input error.
        try Data(#"{"clock": 1, "resetCount": 0, "restartCount": 0, "clock": 2}"#.utf8).write(to: URL(fileURLWithPath: w.path("p.json")))
        let previous = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "01010101010101010101010101010101", "--previous", w.path("p.json")])
        #expect(previous.status == 2)
        #expect(previous.output.contains("json.duplicate-key"), "\(previous.output)")

        // An AK with public exponent 3, as an attacker would hand it to the verifier.
        let area = try Public(wireBytes: try Data(contentsOf: URL(fileURLWithPath: w.state + "/ak.pub"))).publicArea
        guard case let .rsa(symmetric, scheme, bits, _, modulus) = area.parameters else {
            Issue.record("not an RSA AK")
            return
        }
        var weak = area
        weak.parameters = .rsa(symmetric: symmetric, scheme: scheme, keyBits: bits, exponent: 3, modulus: modulus)
        try Data(Public(weak).wireBytes).write(to: URL(fileURLWithPath: w.path("weak.pub")))
        #expect(try w.smig(["quote", "--nonce", "01010101010101010101010101010101", "--tpm2-tools", w.path("q")]).status == 0)
        let r = try w.smig(["verify", "--ak-public", w.path("weak.pub"), "--message", w.path("q.msg"), "--signature",
                            w.path("q.sig"), "--pcr-file", w.path("q.pcrs"), "--nonce", "01010101010101010101010101010101", "--json"])
        #expect(r.status == 1)
        #expect(try r.json()["code"] as? String == "quote.key-bad-exponent")
        // PCR 24 does not exist.
        let selection = try w.smig(["quote", "--nonce", "01010101010101010101010101010101", "--pcrs", "sha256:0,24"])
        #expect(selection.status != 0)
        #expect(selection.output.contains("PCRs are 0-23") || selection.output.contains("pcr-out-of-range"), "\(selection.output)")
    }
}
