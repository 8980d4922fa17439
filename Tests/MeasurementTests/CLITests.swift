import TPMWire
import ArgumentParser
import Attestation
import Foundation
import Policy
import SmigAttestCLI
import Testing

@testable import Measurement

@Suite("measurement commands")
struct MeasurementCLITests {
    @Test func goldenCaptureYAMLParsesBackAndMatches() throws {
        let measurements = [
            measurement("file:/boot/xen \"4\".gz", 1),
            NamedMeasurement.reported(source: "xen", name: "xen:commandline", value: "dom0_mem=4G \\ \"quoted\"\ttab",
                                      detail: "multi\nline"),
            measurement("process-text:/usr/bin/qemu-system-x86_64", 2, source: "process-text", instance: "10"),
            measurement("process-text:/usr/bin/qemu-system-x86_64", 2, source: "process-text", instance: "11"),
            measurement("process-text:/usr/bin/qemu-system-x86_64", 3, source: "process-text", instance: "12"),
        ]
        let yaml = GoldenCapture.yaml(measurements, name: "cap", required: true, sources: ["x"], host: "h",
                                             date: "d")
        let golden = try GoldenValues(yaml: yaml, file: "captured.yaml")
        #expect(golden.name == "cap")
        #expect(golden.entries.map(\.name) == ["file:/boot/xen \"4\".gz", "xen:commandline",
                                               "process-text:/usr/bin/qemu-system-x86_64"])
        #expect(golden.entries[1].values == ["dom0_mem=4G \\ \"quoted\"\ttab"])
        #expect(golden.entries[2].sha256.count == 2)
        let rows = GoldenMatch.match(measurements, golden: golden)
        #expect(rows.allSatisfy { $0.match == .ok })
    }

    @Test func measureRowsNameEveryMismatch() throws {
        let golden = GoldenValues(name: "g", entries: [
            .init(name: "file:/a", sha256: [[UInt8](repeating: 1, count: 32)]),
            .init(name: "file:/needed", sha256: [[UInt8](repeating: 1, count: 32)], required: true),
        ])
        let rows = GoldenMatch.match([measurement("file:/a", 2), measurement("file:/b", 1)], golden: golden)
        #expect(rows.map(\.match) == [.notAllowed, .unknown, .requiredMissing])
    }

    @Test func sourcesImpliedByGoldenNames() throws {
        let golden = GoldenValues(name: "g", entries: [
            .init(name: "file:/a", sha256: [[UInt8](repeating: 1, count: 32)]),
            .init(name: "file:/b", sha256: [[UInt8](repeating: 1, count: 32)]),
            .init(name: "process-text:/usr/bin/qemu-system-x86_64", sha256: [[UInt8](repeating: 1, count: 32)]),
            .init(name: "boot-log:pcr4", values: ["x"]),
        ])
        let kinds = try SourceSpec.sources(impliedBy: golden).map(\.kind)
        #expect(kinds == ["file", "process-text", "boot-log"])
    }

    @Test func policyCheckOnShippedPolicies() throws {
        let policies = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("policies").path
        let results = PolicyCheckCommand.check("\(policies)/region-example.yaml")
        #expect(results.count == 3)  // the region and the two golden files its hosts name
        let messages = results.compactMap { $0.error?.message }
        #expect(results.allSatisfy { $0.ok }, "\(messages)")
    }

    @Test func policyCheckReportsPositions() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("bad.yaml", Array("kind: golden-values\nversion: 1\nname: x\nmeasurments: {}\n".utf8))
        let results = PolicyCheckCommand.check(path)
        let error = try #require(results.first?.error)
        #expect(error.code == "policy.unknown-key")
        #expect(error.line == 4 && error.column == 1)
        #expect(error.hint == "did you mean 'measurements'?")
    }

    @Test func commandsParse() throws {
        _ = try PolicyCheckCommand.parse(["a.yaml", "--json"])
        _ = try MeasureCommand.parse(["--source", "file:/boot/xen.gz", "--golden", "g.yaml", "--json"])
        _ = try GoldenCaptureCommand.parse(["--source", "xen", "--name", "n"])
        _ = try BenchMeasure.parse(["--size", "8", "--rounds", "2", "--json"])
        #expect(throws: (any Error).self) { try BenchMeasure.parse(["--size", "0"]) }
        #expect(throws: (any Error).self) { try GoldenCaptureCommand.parse([]) }
    }
}
