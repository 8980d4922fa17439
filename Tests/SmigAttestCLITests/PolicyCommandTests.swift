import ArgumentParser
import Foundation
import SmigAttestCLI
import Testing

/// `policy check`, `measure` and `golden capture` as commands: argument parsing, the shipped policies, and a
/// broken policy reported whole through the real binary.
@Suite("Policy and measurement commands")
struct PolicyCommandTests {
    static var policies: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies").path
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-policy-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func policyCheckOnShippedPolicies() throws {
        let results = PolicyCheckCommand.check("\(Self.policies)/region-example.yaml")
        #expect(results.count == 3)  // the region and the two golden files its hosts name
        let messages = results.compactMap { $0.error?.message }
        #expect(results.allSatisfy { $0.ok }, "\(messages)")
    }

    @Test func policyCheckReportsPositions() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bad.yaml").path
        try Data("kind: golden-values\nversion: 1\nname: x\nmeasurments: {}\n".utf8).write(to: URL(fileURLWithPath: path))
        let results = PolicyCheckCommand.check(path)
        let error = try #require(results.first?.error)
        #expect(error.code == "policy.unknown-key")
        #expect(error.line == 4 && error.column == 1)
        #expect(error.hint == "did you mean 'measurements'?")
    }

    @Test func everyErrorOfAFileThroughTheBinary() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("golden.yaml").path
        try Data("""
            kind: golden-values
            version: 1
            name: t
            measurements:
              "fiel:/usr/bin/x":
                sha256: [\(String(repeating: "a", count: 64))]
              "process-text:pid=123":
                sha256: [\(String(repeating: "a", count: 64))]
              "file:/usr/bin/y":
                sha256: [\(String(repeating: "a", count: 63))]

            """.utf8).write(to: URL(fileURLWithPath: path))
        let text = try Run.smig(["policy", "check", path])
        #expect(text.status == 1, "\(text.output)")
        let lines = text.output.split(separator: "\n").filter { $0.contains(": error: ") }
        #expect(lines.count == 3, "\(text.output)")
        #expect(text.output.contains("\(path):5:3: error: measurement name 'fiel:/usr/bin/x' has an unknown source prefix 'fiel'"), "\(text.output)")
        #expect(text.output.contains("\(path):7:3: error: measurement name 'process-text:pid=123' is bound to one process id"), "\(text.output)")
        #expect(text.output.contains("has 63 hex digits, expected 64 for sha256"), "\(text.output)")
        let json = try Run.smig(["policy", "check", path, "--json"])
        let results = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [[String: Any]]
        #expect((results?.first?["errors"] as? [[String: Any]])?.map { $0["line"] as? Int } == [5, 7, 10], "\(json.output)")
    }

    @Test func aMissingGoldenFileIsTheRegionFilesError() throws {
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let region = try String(contentsOfFile: "\(Self.policies)/region-example.yaml", encoding: .utf8)
        let edited = region.replacingOccurrences(of: "golden: debian-12-qemu-host.golden.yaml", with: "golden: missing.golden.yaml")
        #expect(edited != region)
        try Data(edited.utf8).write(to: dir.appendingPathComponent("region.yaml"))
        try FileManager.default.copyItem(atPath: "\(Self.policies)/debian-12-xen-4.17.golden.yaml",
                                         toPath: dir.appendingPathComponent("debian-12-xen-4.17.golden.yaml").path)
        let r = try Run.smig(["policy", "check", dir.appendingPathComponent("region.yaml").path])
        #expect(r.status == 2, "\(r.output)")
        let line = (edited.components(separatedBy: "\n").firstIndex { $0.contains("golden: missing.golden.yaml") } ?? -1) + 1
        #expect(r.output.contains("region.yaml:\(line):"), "the error points at the golden: line \(line): \(r.output)")
        #expect(r.output.contains("golden-values file 'missing.golden.yaml'") && r.output.contains("does not exist"), "\(r.output)")
        #expect(!r.output.contains("region.yaml: ok"), "\(r.output)")
    }

    @Test func commandsParse() throws {
        let check = try PolicyCheckCommand.parse(["a.yaml", "--json"])
        #expect(check.files == ["a.yaml"] && check.json && !check.allowAbsoluteGolden)
        let measure = try MeasureCommand.parse(["--source", "file:/boot/xen.gz", "--golden", "g.yaml", "--json"])
        #expect(measure.selection.sources == ["file:/boot/xen.gz"] && measure.golden == "g.yaml" && measure.json && !measure.extend)
        let capture = try GoldenCaptureCommand.parse(["--source", "xen", "--name", "n"])
        #expect(capture.selection.sources == ["xen"] && capture.name == "n" && !capture.optional)
        let bench = try BenchMeasure.parse(["--size", "8", "--rounds", "2", "--json"])
        #expect(bench.size == 8 && bench.rounds == 2 && bench.json)
        let size = #expect(throws: (any Error).self) { try BenchMeasure.parse(["--size", "0"]) }
        #expect(size.map(BenchMeasure.message(for:)) == "--size must be 1-4096 MiB")
        let noSource = #expect(throws: (any Error).self) { try GoldenCaptureCommand.parse([]) }
        #expect(noSource.map(GoldenCaptureCommand.message(for:)) == "give at least one --source")
    }
}
