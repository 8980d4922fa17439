import Attestation
import Foundation
import RegionProtocol
import TPMWire

/// `bench codec`: the RC-TCB's JSON work per report — decoding the report, encoding its bundle for the IVT,
/// encoding the answer — by Foundation (JSONDecoder / JSONEncoder through `RegionJSON`) and by the fast codec
/// (`RegionJSON.decodeReport`, `RegionJSON.fastEncode`), alternating in the same run.
package enum CodecBenchmark {
    package struct Row: Encodable, Sendable {
        package var operation: String
        package var bytes: Int
        package var foundationMicroseconds: Double
        package var fastMicroseconds: Double
        /// Foundation's time over the fast codec's.
        package var speedup: Double
    }

    package struct Report: Encodable, Sendable {
        package var benchmark = "codec"
        package var build: String
        package var rows: [Row]
    }

    struct Operation {
        var name: String
        var bytes: Int
        var foundation: (Int) -> Bool
        var fast: (Int) -> Bool
    }

    /// A report like the benchmark doubles send (one measurement record, PCRs 0-7 and 15 of SHA-256, a real quote
    /// by a software key) and the RC-TCB's answer with the next duty; checks that both codecs agree on them, then
    /// measures each operation the best of `timing.rounds`.
    package static func run(timing: BenchmarkTiming) throws -> Report {
        let (reportBytes, bundle, result) = try samples()
        let resultBytes = RegionJSON.encode(result)
        let bundleBytes = RegionJSON.encode(bundle)
        let operations = [
            Operation(name: "decode report (AIMReport with its bundle)", bytes: reportBytes.count,
                      foundation: { _ in (try? RegionJSON.decode(AIMReport.self, from: reportBytes)) != nil },
                      fast: { _ in (try? RegionJSON.decodeReport(reportBytes)) != nil }),
            Operation(name: "encode bundle (kept in the IVT)", bytes: bundleBytes.count,
                      foundation: { _ in RegionJSON.encode(bundle).count == bundleBytes.count },
                      fast: { _ in RegionJSON.fastEncode(bundle).count == bundleBytes.count }),
            Operation(name: "encode answer (ReportResult with next)", bytes: resultBytes.count,
                      foundation: { _ in RegionJSON.encode(result).count == resultBytes.count },
                      fast: { _ in RegionJSON.fastEncode(result).count == resultBytes.count }),
        ]
        var rows: [Row] = []
        for op in operations {
            var bestFoundation = 0.0, bestFast = 0.0
            for _ in 0..<timing.rounds {
                guard let f = operationsPerSecond(seconds: timing.seconds, op.foundation),
                      let q = operationsPerSecond(seconds: timing.seconds, op.fast)
                else { throw BenchmarkError(.checkFailedDuringRun, "\(op.name) failed during the measured run") }
                bestFoundation = max(bestFoundation, f)
                bestFast = max(bestFast, q)
            }
            let foundationMicroseconds = 1e6 / bestFoundation, fastMicroseconds = 1e6 / bestFast
            rows.append(Row(operation: op.name, bytes: op.bytes, foundationMicroseconds: (foundationMicroseconds * 100).rounded() / 100,
                            fastMicroseconds: (fastMicroseconds * 100).rounded() / 100,
                            speedup: (foundationMicroseconds / fastMicroseconds * 10).rounded() / 10))
        }
        return Report(build: BenchmarkBuild.name, rows: rows)
    }

    /// The encoded report, its bundle as the RC-TCB holds it (decoded: whole-second agent time) and an answer.
    static func samples() throws -> (Data, EvidenceBundle, ReportResult) {
        let measurement = [UInt8](repeating: 0xAB, count: 32)
        let double = try SoftwareAgentDouble(hostId: "host-0001", measurementName: "file:/usr/bin/qemu-system-x86_64",
                                             measurement: measurement)
        let nonce = (0..<32).map { UInt8($0) }
        let evidence = try double.evidence(nonce: nonce, selection: try PCRSelectionList(parsing: "sha256:0-7,15"))
        let report = AIMReport(target: "host-0001", nonce: Hex.encode(nonce), outcome: .evidence, evidence: evidence,
                               reporterVerdict: "trusted")
        let bytes = RegionJSON.encode(report)
        let foundation = try? RegionJSON.decode(AIMReport.self, from: bytes)
        guard let fast = RegionJSON.fastReport(bytes), fast == foundation, let bundle = fast.evidence else {
            throw BenchmarkError(.badSample, "the fast reader does not read the sample report as Foundation does")
        }
        let result = ReportResult(target: "host-0001", state: "trusted", next: RingAssignment(
            target: "host-0002", address: "127.0.0.1", port: 44_321, nonce: Hex.encode(nonce), pcrSelection: "sha256:0-7,15",
            validUntil: Date().addingTimeInterval(30)))
        guard RegionJSON.fastEncode(bundle) == RegionJSON.encode(bundle), RegionJSON.fastEncode(result) == RegionJSON.encode(result)
        else { throw BenchmarkError(.badSample, "the fast writer's bytes differ from JSONEncoder's on the sample") }
        return (bytes, bundle, result)
    }
}
