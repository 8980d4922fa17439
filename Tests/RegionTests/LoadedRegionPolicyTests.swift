import Foundation
import Policy
import RegionTCB
import Testing

/// What a reload may apply: the policy's digest covers the golden files, an edit of a golden file is a change of
/// that host only, and every other change needs a restart and is named.
@Suite("The region policy as the RC-TCB loads it")
struct LoadedRegionPolicyTests {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-loaded-policy-\(UUID().uuidString)")

    static let region = """
        kind: region
        version: 1
        name: reload
        hosts:
          - {id: h1, address: 127.0.0.1, port: 9001, golden: g1.yaml}
          - {id: h2, address: 127.0.0.1, port: 9002, golden: g2.yaml}
        ring: [h1, h2]
        intervals: {measurement: 1s, challenge: 1s}
        quote-freshness: 30s
        unreachable-timeout: 10s

        """

    static func golden(_ digest: String) -> String {
        "kind: golden-values\nversion: 1\nname: g\nmeasurements:\n  \"file:/hv\":\n    sha256: [\(digest)]\n    required: true\n"
    }

    func write(_ region: String, g1: String = String(repeating: "a", count: 64), g2: String = String(repeating: "b", count: 64)) throws -> String {
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Self.golden(g1).write(to: dir.appendingPathComponent("g1.yaml"), atomically: true, encoding: .utf8)
        try Self.golden(g2).write(to: dir.appendingPathComponent("g2.yaml"), atomically: true, encoding: .utf8)
        let file = dir.appendingPathComponent("region.yaml")
        try region.write(to: file, atomically: true, encoding: .utf8)
        return file.path
    }

    @Test func aGoldenFileEditIsANewPolicyForThatHostOnly() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let before = try LoadedRegionPolicy.load(try write(Self.region))
        let after = try LoadedRegionPolicy.load(try write(Self.region, g2: String(repeating: "c", count: 64)))
        #expect(before.digest != after.digest && before.digest.count == 64)
        #expect(before.goldenChanged(in: after) == ["h2"])
        #expect(before.restartNeeded(for: after).isEmpty)
        #expect(try LoadedRegionPolicy.load(try write(Self.region)).digest == before.digest)
        // The region file moved the golden entry to another line and renamed the file: still only golden values.
        try FileManager.default.copyItem(at: dir.appendingPathComponent("g1.yaml"), to: dir.appendingPathComponent("g1-new.yaml"))
        let moved = try LoadedRegionPolicy.load(try write(Self.region.replacingOccurrences(of: "golden: g1.yaml", with: "golden:   g1-new.yaml")))
        #expect(before.restartNeeded(for: moved).isEmpty && before.goldenChanged(in: moved).isEmpty)
    }

    /// A host's `boot-log:` is judged per quote like its golden values: a reload applies it.
    @Test func aBootLogRequirementIsReloaded() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let before = try LoadedRegionPolicy.load(try write(Self.region))
        let after = try LoadedRegionPolicy.load(try write(Self.region.replacingOccurrences(of: "golden: g2.yaml", with: "golden: g2.yaml, boot-log: optional")))
        #expect(before.restartNeeded(for: after).isEmpty && before.digest != after.digest)
        #expect(after.hosts.map(\.bootLog) == [.required, .optional])
    }

    @Test(arguments: [
        ("unreachable-timeout: 10s", "unreachable-timeout: 20s", ["unreachable-timeout"]),
        ("port: 9002", "port: 9003", ["hosts"]),
        ("ring: [h1, h2]", "ring: [h2, h1]", ["ring"]),
        ("intervals: {measurement: 1s, challenge: 1s}", "intervals: {measurement: 2s, challenge: 1s}", ["intervals"]),
        ("name: reload", "name: other", ["name"]),
    ])
    func otherChangesNeedARestartAndAreNamed(from: String, to: String, named: [String]) throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let before = try LoadedRegionPolicy.load(try write(Self.region))
        let after = try LoadedRegionPolicy.load(try write(Self.region.replacingOccurrences(of: from, with: to)))
        #expect(before.restartNeeded(for: after) == named)
    }

    @Test func aBadGoldenFileIsTheErrorWithItsPlace() throws {
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = try write(Self.region)
        try "kind: golden-values\nversion: 1\nname: g\nmeasurements:\n  \"file:/hv\": {sha256: [zz]}\n".write(to: dir.appendingPathComponent("g2.yaml"), atomically: true, encoding: .utf8)
        let error = #expect(throws: PolicyError.self) { try LoadedRegionPolicy.load(file) }
        #expect(error?.code == .badDigest && error?.file.hasSuffix("g2.yaml") == true && error?.line == 5, "\(String(describing: error))")
    }
}
