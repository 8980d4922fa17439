import Foundation
import Policy
import TPMWire
import Testing

/// Policies written to mislead a reviewer or to exhaust the checker.
@Suite("Hostile policy files")
struct HostilePolicyTests {
    @Test func anchorAndAliasAreRefused() throws {
        let yaml = replacing(validGolden, "  \"xen:build-id\":\n    values:", """
          "file:/a": &x
            sha256: [\(digestA)]
          "file:/b": *x
          "xen:build-id":
            values:
        """)
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .unsupportedYAML, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("bad.yaml:8:14: error: YAML anchors and aliases are not accepted") == true,
                "\(String(describing: error))")
    }

    @Test func anchorWithoutAliasIsRefused() throws {
        let yaml = replacing(validGolden, "name: test-golden", "name: &n test-golden")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .unsupportedYAML, "\(String(describing: error))")
        #expect(error?.line == 3)
    }

    @Test func mergeKeyIsRefused() throws {
        let yaml = replacing(validGolden, "    required: true", "    required: true\n    <<: {values: [x]}")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .unsupportedYAML, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("bad.yaml:8:5: error: YAML merge keys") == true, "\(String(describing: error))")
    }

    @Test(arguments: ["00", "+0", "0x1", "-0", "04", "1_0"])
    func nonCanonicalPCRIndexIsRefused(_ key: String) throws {
        let yaml = replacing(validGolden, "    4: \(digestB)", "    \(key): \(digestB)")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .nonCanonicalNumber, "\(String(describing: error))")
        #expect(error?.description.hasPrefix("bad.yaml:16:5: error: PCR index '\(key)' is not written as a plain decimal number") == true,
                "\(error)")
    }

    @Test func zeroAndDoubleZeroDoNotMerge() throws {
        let yaml = replacing(validGolden, "    4: \(digestB)", "    00: \(digestB)")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .nonCanonicalNumber)
        #expect(error?.line == 16)
    }

    @Test func hugePCRIndexIsOutOfRange() throws {
        let yaml = replacing(validGolden, "    4: \(digestB)", "    99999999999999999999999: \(digestB)")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .outOfRange, "\(String(describing: error))")
    }

    @Test func repeatedPCRValueIsRefused() throws {
        let yaml = replacing(validGolden, "    0: [\(digestA)]", "    0: [\(digestA), \(digestA)]")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .duplicateEntry, "\(String(describing: error))")
        #expect(error?.line == 15)
    }

    @Test func byteOrderMarkIsSkipped() throws {
        let golden = try GoldenValues(yaml: "\u{FEFF}" + validGolden, file: "bom.yaml")
        #expect(golden.name == "test-golden")
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("bom-\(UUID().uuidString).yaml")
        defer { try? FileManager.default.removeItem(at: file) }
        try (Data([0xEF, 0xBB, 0xBF]) + Data(validGolden.utf8)).write(to: file)
        let fromFile = try GoldenValues(contentsOfFile: file.path)
        #expect(fromFile.entries.count == 3)
        // Positions after the mark are those an editor shows.
        let broken = replacing(validGolden, "name: test-golden", "name: test-golden\nnmae: x")
        let yaml = "\u{FEFF}" + broken
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.description.hasPrefix("bad.yaml:4:1: error: unknown key 'nmae'") == true, "\(String(describing: error))")
    }

    /// 100 000 digests for one name decode in linear time; the repeated last digest is still found. Speed is
    /// measured by `time smig-attest policy check` on such a file, not asserted here.
    @Test func longDigestListIsCheckedLinearly() throws {
        let count = 100_000
        var lines = ["kind: golden-values", "version: 1", "name: many", "measurements:", "  \"file:/x\":", "    sha256:"]
        lines.reserveCapacity(count + 8)
        for i in 0..<count { lines.append("      - " + Self.digest(i)) }
        let golden = try GoldenValues(yaml: lines.joined(separator: "\n") + "\n", file: "many.yaml")
        #expect(golden.entries.first?.sha256.count == count)
        lines.append("      - " + Self.digest(count / 2))
        let yaml = lines.joined(separator: "\n") + "\n"
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == .duplicateEntry)
        #expect(error?.line == count + 7)
    }

    static func digest(_ i: Int) -> String {
        let hex = String(i, radix: 16)
        return String(repeating: "0", count: 64 - hex.count) + hex
    }
}

@Suite("Region golden paths")
struct RegionGoldenPathTests {
    static func region(golden: String) -> String {
        replacing(validRegion, "{id: host-a, address: 10.0.0.11, port: 8443}",
                  "{id: host-a, address: 10.0.0.11, port: 8443, golden: \"\(golden)\"}")
    }

    @Test func relativePathResolvesBesideTheRegionFile() throws {
        let region = try RegionPolicy(yaml: Self.region(golden: "sub/a.golden.yaml"), file: "/etc/smig/region.yaml")
        #expect(try region.goldenPath(of: region.hosts[0], regionFile: "/etc/smig/region.yaml") == "/etc/smig/sub/a.golden.yaml")
        #expect(try region.goldenPath(of: region.hosts[0], regionFile: "region.yaml") == "sub/a.golden.yaml")
        #expect(try region.goldenPath(of: region.hosts[1], regionFile: "region.yaml") == nil)
    }

    @Test(arguments: ["../a.golden.yaml", "sub/../../a.yaml", "..", "x/.."])
    func escapingPathIsRefused(_ path: String) throws {
        let error = #expect(throws: PolicyError.self, "\(path)") { try RegionPolicy(yaml: Self.region(golden: path), file: "r.yaml") }
        #expect(error?.code == .pathOutsideRegion)
        #expect(error?.description.hasPrefix("r.yaml:6:58: error: golden path") == true, "\(String(describing: error))")
    }

    @Test func absolutePathNeedsTheOption() throws {
        let region = try RegionPolicy(yaml: Self.region(golden: "/etc/shadow"), file: "/srv/r.yaml")
        let error = #expect(throws: PolicyError.self, "an absolute path without the option") {
            try region.goldenPath(of: region.hosts[0], regionFile: "/srv/r.yaml")
        }
        #expect(error?.code == .pathOutsideRegion)
        #expect(error?.file == "/srv/r.yaml")
        #expect(error?.line == 6)
        #expect(try region.goldenPath(of: region.hosts[0], regionFile: "/srv/r.yaml", allowAbsolute: true) == "/etc/shadow")
    }
}
