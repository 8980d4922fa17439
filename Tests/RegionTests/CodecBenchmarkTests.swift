import Benchmarks
import Testing

/// `bench codec` on a short run: its sample report is read alike by both codecs (else it throws), and every
/// operation has a time for each.
@Suite("bench codec")
struct CodecBenchmarkTests {
    @Test func aShortRunMeasuresEveryOperationForBothCodecs() throws {
        let report = try CodecBenchmark.run(timing: BenchmarkTiming(seconds: 0.05, rounds: 1))
        #expect(report.rows.map(\.operation) == ["decode report (AIMReport with its bundle)", "encode bundle (kept in the IVT)",
                                                 "encode answer (ReportResult with next)"])
        for row in report.rows {
            #expect(row.bytes > 100)
            #expect(row.foundationMicroseconds > 0 && row.fastMicroseconds > 0 && row.speedup > 0, "\(row)")
        }
    }
}
