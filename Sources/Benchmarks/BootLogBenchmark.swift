import Attestation
import Crypto
import TPMWire

/// `bench bootlog`: parsing and replaying a boot log against hashing the same event data, in the same run.
package enum BootLogBenchmark {
    package struct Row: Encodable, Sendable {
        package var name: String
        package var logsPerSecond: Double
        package var eventsPerSecond: Double
        package var megabytesPerSecond: Double
        /// This row's throughput relative to raw hashing.
        package var ratio: Double
    }

    package struct Report: Encodable, Sendable {
        package var benchmark = "bootlog"
        package var build: String
        package var file: String
        package var format: String
        package var bytes: Int
        package var events: Int
        package var extendingEvents: Int
        package var banks: [String]
        package var rows: [Row]
    }

    /// Measures raw hashing, parse + replay and parse alone over `bytes` (the log read from `file`), alternating,
    /// the best of `timing.rounds` each. A log that does not parse is `bench.bad-boot-log`.
    package static func run(file: String, bytes: [UInt8], timing: BenchmarkTiming) throws(BenchmarkError) -> Report {
        let log: BootEventLog
        do { log = try BootEventLog(bytes: bytes) } catch { throw BenchmarkError(.badBootLog, "\(file): \(error)") }
        let expected = log.replay()
        let raw = rawHashing(log)
        let replay: (Int) -> Bool = { _ in (try? BootEventLog(bytes: bytes))?.replay() == expected }
        let parse: (Int) -> Bool = { _ in (try? BootEventLog(bytes: bytes))?.events.count == log.events.count }
        var best = [0.0, 0.0, 0.0]
        for _ in 0..<timing.rounds {
            for (i, body) in [raw, replay, parse].enumerated() {
                guard let rate = operationsPerSecond(seconds: timing.seconds, body) else {
                    throw BenchmarkError(.checkFailedDuringRun, "a replay of \(file) differed during the measured run")
                }
                best[i] = max(best[i], rate)
            }
        }
        let events = Double(log.events.count)
        let megabytes = Double(bytes.count) / 1_000_000
        let rows = zip(["raw hashing", "parse + replay", "parse"], best).map { name, rate in
            Row(name: name, logsPerSecond: rate.rounded(), eventsPerSecond: (rate * events).rounded(),
                megabytesPerSecond: (rate * megabytes * 10).rounded() / 10, ratio: (rate / best[0] * 1000).rounded() / 1000)
        }
        return Report(build: BenchmarkBuild.name, file: file, format: log.format.rawValue, bytes: bytes.count,
                      events: log.events.count, extendingEvents: log.extendingEvents.count,
                      banks: log.replayableBanks.map(\.name), rows: rows)
    }

    /// One log's worth of extend hashes over pre-built buffers; true when the chained result is deterministic.
    static func rawHashing(_ log: BootEventLog) -> (Int) -> Bool {
        var inputs: [(bank: TPMAlgorithm, buffer: [UInt8])] = []
        for bank in log.replayableBanks {
            for event in log.extendingEvents {
                guard let digest = event.digest(bank) else { continue }
                inputs.append((bank, [UInt8](repeating: 0, count: bank.digestSize ?? 0) + digest))
            }
        }
        return { _ in
            var sink: UInt8 = 0
            for input in inputs {
                switch input.bank {
                case .sha1: Insecure.SHA1.hash(data: input.buffer).withUnsafeBytes { sink ^= $0[0] }
                case .sha256: SHA256.hash(data: input.buffer).withUnsafeBytes { sink ^= $0[0] }
                case .sha384: SHA384.hash(data: input.buffer).withUnsafeBytes { sink ^= $0[0] }
                case .sha512: SHA512.hash(data: input.buffer).withUnsafeBytes { sink ^= $0[0] }
                default: break   // replayableBanks holds implemented hashes only
                }
            }
            return sink != 1 || !inputs.isEmpty
        }
    }
}
