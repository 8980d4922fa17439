import Attestation
package import ArgumentParser
import Crypto
import Foundation
import Measurement

#if canImport(Glibc)
import Glibc
#endif

/// `smig-attest bench measure`: measurement digest throughput against raw SHA-256 over the same bytes in memory.
package struct BenchMeasure: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Measurement throughput (file, process text) vs raw in-memory SHA-256 of the same bytes.",
        discussion: """
        file: a SIZE MiB file in the page cache measured by the `file` source, against SHA-256 of the same bytes \
        already in memory. process-text: the executable mappings of --pid (default: this process) measured through \
        /proc/PID/mem by the `process-text` source, against SHA-256 of the same bytes copied out beforehand. \
        Rounds alternate raw and measured; the best round of each counts. Target: measured >= 80% of raw. \
        Run from a release build (swift build -c release) for meaningful figures.
        """)

    @Option(help: "File size in MiB.") package var size: Int = 64
    @Option(help: "Process whose text to measure (default: this process).") public var pid: Int32?
    @Option(help: "Alternating rounds (raw, measured); the best of each counts.") public var rounds: Int = 5
    @Option(help: "Directory for the temporary file.") package var directory: String = NSTemporaryDirectory()
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.") package var json = false

    package init() {}

    package func validate() throws {
        guard (1...4096).contains(size) else { throw ValidationError("--size must be 1-4096 MiB") }
        guard (1...50).contains(rounds) else { throw ValidationError("--rounds must be 1-50") }
    }

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
        package var target = 0.8
        package var rows: [Row]
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
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0
    }

    static func row(_ subject: String, _ bytes: Int, _ times: (Duration, Duration)) -> Row {
        let raw = mibPerSecond(bytes, times.0)
        let measured = mibPerSecond(bytes, times.1)
        let ratio = raw > 0 ? measured / raw : 0
        return Row(subject: subject, bytes: bytes, rawMiBPerSecond: raw, measuredMiBPerSecond: measured, ratio: ratio,
                   meetsTarget: ratio >= 0.8)
    }

    package func run() throws {
        try Output.reporting {
            var rows: [Row] = []

            // File: the same bytes in memory and in a (page-cached) file.
            var generator = SystemRandomNumberGenerator()
            var bytes = [UInt8](repeating: 0, count: size << 20)
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
                throw ValidationError("the file source's digest differs from SHA-256 of the same bytes")
            }
            var sink: UInt8 = 0
            let fileTimes = try Self.best(rounds, raw: { sink ^= SHA256.hash(data: bytes).first { _ in true } ?? 0 },
                                          measured: { sink ^= try source.measure().first?.sha256.first ?? 0 })
            rows.append(Self.row("file (\(size) MiB)", bytes.count, fileTimes))

            // Process text: the bytes copied out first, then hashed in memory, against measuring through /proc.
            let target = pid ?? getpid()
            let text = ProcessTextSource(.pid(target))
            let textBytes = try text.textBytes(pid: target)
            let textTimes = try Self.best(rounds, raw: { sink ^= SHA256.hash(data: textBytes).first { _ in true } ?? 0 },
                                          measured: { sink ^= try text.measure(pid: target).sha256.first ?? 0 })
            rows.append(Self.row("process-text (pid \(target))", textBytes.count, textTimes))
            _ = sink

            #if DEBUG
            let build = "debug"
            #else
            let build = "release"
            #endif
            let report = Report(build: build, rows: rows)
            if json {
                Output.json(report)
            } else {
                Output.line("bench measure (\(build) build, best of \(rounds) alternating rounds)")
                Output.line("subject                         bytes        raw MiB/s  measured MiB/s  ratio  >= 80%")
                for row in rows {
                    let subject = row.subject.padding(toLength: 30, withPad: " ", startingAt: 0)
                    let bytes = String(row.bytes).padding(toLength: 12, withPad: " ", startingAt: 0)
                    Output.line("\(subject)  \(bytes) \(String(format: "%10.1f", row.rawMiBPerSecond))  "
                        + "\(String(format: "%14.1f", row.measuredMiBPerSecond))  \(String(format: "%5.2f", row.ratio))  "
                        + (row.meetsTarget ? "yes" : "NO"))
                }
            }
        }
    }
}
