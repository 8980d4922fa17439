import Attestation
import Crypto
import DurationUnits
import Foundation
import Measurement
#if canImport(Glibc)
import Glibc
#endif

/// `bench measure`: the throughput of the `file` and `process-text` measurement sources against raw in-memory
/// SHA-256 of the same bytes. Target: measured ≥ 80% of raw.
package enum MeasureBenchmark {
    package static let target = 0.8

    package struct Row: Encodable, Sendable {
        package var subject: String
        package var bytes: Int
        package var rawMiBPerSecond: Double
        package var measuredMiBPerSecond: Double
        /// measured / raw.
        package var ratio: Double
        package var meetsTarget: Bool
    }

    package struct Report: Encodable, Sendable {
        package var benchmark = "measure"
        package var build: String
        package var target = MeasureBenchmark.target
        package var rows: [Row]
    }

    /// A `sizeMiB` file of random bytes in `directory` (page-cached) and the text of process `pid` (nil: this
    /// process), each measured against SHA-256 of the same bytes in memory, `rounds` alternating rounds.
    package static func run(sizeMiB: Int, pid: Int32?, rounds: Int, directory: String) throws -> Report {
        var rows: [Row] = []

        // File: the same bytes in memory and in a (page-cached) file.
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: sizeMiB << 20)
        bytes.withUnsafeMutableBytes { raw in
            for index in stride(from: 0, to: raw.count, by: 8) {
                raw.storeBytes(of: generator.next() as UInt64, toByteOffset: index, as: UInt64.self)
            }
        }
        let path = (directory as NSString).appendingPathComponent("smig-bench-measure-\(getpid()).bin")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let source = FileSource(paths: [path])
        let expected = Array(SHA256.hash(data: bytes))
        guard try source.measure().first?.sha256 == expected else {
            throw BenchmarkError(.badSample, "the file source's digest differs from SHA-256 of the same bytes")
        }
        var sink: UInt8 = 0
        let fileTimes = try best(rounds, raw: { sink ^= SHA256.hash(data: bytes).first { _ in true } ?? 0 },
                                 measured: { sink ^= try source.measure().first?.sha256.first ?? 0 })
        rows.append(row("file (\(sizeMiB) MiB)", bytes.count, fileTimes))

        // Process text: the bytes copied out first, then hashed in memory, against measuring through /proc.
        let target = pid ?? getpid()
        let text = ProcessTextSource(.pid(target))
        let textBytes = try text.textBytes(pid: target)
        let textTimes = try best(rounds, raw: { sink ^= SHA256.hash(data: textBytes).first { _ in true } ?? 0 },
                                 measured: { sink ^= try text.measure(pid: target).sha256.first ?? 0 })
        rows.append(row("process-text (pid \(target))", textBytes.count, textTimes))
        _ = sink
        return Report(build: BenchmarkBuild.name, rows: rows)
    }

    static func best(_ rounds: Int, raw: () throws -> Void, measured: () throws -> Void) rethrows -> (Duration, Duration) {
        let clock = ContinuousClock()
        var bestRaw = Duration.seconds(1_000_000)
        var bestMeasured = Duration.seconds(1_000_000)
        for _ in 0..<rounds {
            bestRaw = min(bestRaw, try clock.measure(raw))
            bestMeasured = min(bestMeasured, try clock.measure(measured))
        }
        return (bestRaw, bestMeasured)
    }

    static func mibPerSecond(_ bytes: Int, _ duration: Duration) -> Double {
        let seconds = duration.inSeconds
        return seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0
    }

    static func row(_ subject: String, _ bytes: Int, _ times: (Duration, Duration)) -> Row {
        let raw = mibPerSecond(bytes, times.0)
        let measured = mibPerSecond(bytes, times.1)
        let ratio = raw > 0 ? measured / raw : 0
        return Row(subject: subject, bytes: bytes, rawMiBPerSecond: raw, measuredMiBPerSecond: measured, ratio: ratio,
                   meetsTarget: ratio >= target)
    }
}
