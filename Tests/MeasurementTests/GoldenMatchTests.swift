import TPMWire
import Attestation
import Foundation
import Policy
import Testing

@testable import Measurement

/// Measurements against golden values, golden capture and the sources a golden file implies (the library
/// calls `measure --golden` and `golden capture` print).
@Suite("Golden match and capture")
struct GoldenMatchTests {
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
}
