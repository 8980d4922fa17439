package import ArgumentParser
import Attestation
import Crypto
import Foundation
import Policy
import TPMWire

/// `smig-attest bench bootlog`: parsing and replaying a boot log against hashing the same data, same run.
package struct BenchBootLog: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bootlog",
        abstract: "Boot log replay throughput (events/s, MB/s) vs raw hashing of the same event data.",
        discussion: """
        Measures, alternating in the same process: 'raw' — the extend hashes alone, H(pcr ‖ digest) for every \
        extending event in every bank the log records, with swift-crypto over pre-built buffers (the least any \
        replay must do); 'replay' — what `smig-attest bootlog replay` does from the log's bytes: parse every event \
        (bounds checks, digest lists) and replay every bank into PCRs 0–23; 'parse' — parsing alone. The ratios are \
        the cost of parsing and bookkeeping. Run it from a release build (swift build -c release).
        """)

    @Argument(help: "A binary boot event log (default: this machine's).")
    package var file: String = "/sys/kernel/security/tpm0/binary_bios_measurements"
    @OptionGroup package var timing: BenchTimingOptions
    @OptionGroup package var output: OutputOptions

    package init() {}

    struct Row: Encodable {
        var name: String
        var logsPerSecond: Double
        var eventsPerSecond: Double
        var megabytesPerSecond: Double
        /// This row's throughput relative to raw hashing.
        var ratio: Double
    }

    struct Report: Encodable {
        var benchmark = "bootlog"
        var build: String
        var file: String
        var format: String
        var bytes: Int
        var events: Int
        var extendingEvents: Int
        var banks: [String]
        var rows: [Row]
    }

    package func run() throws {
        try reportingErrors {
            let bytes = try readFile(file)
            let log: BootEventLog
            do { log = try BootEventLog(bytes: bytes) } catch { throw CommandFailure("\(file): \(error)", exitCode: 2) }
            let expected = log.replay()
            let raw = rawHashing(log)
            let replay: (Int) -> Bool = { _ in (try? BootEventLog(bytes: bytes))?.replay() == expected }
            let parse: (Int) -> Bool = { _ in (try? BootEventLog(bytes: bytes))?.events.count == log.events.count }
            var best = [0.0, 0.0, 0.0]
            for _ in 0..<timing.rounds {
                for (i, body) in [raw, replay, parse].enumerated() {
                    guard let rate = operationsPerSecond(seconds: timing.seconds, body) else {
                        throw CommandFailure("a replay of \(file) differed during the measured run")
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
            #if DEBUG
            let build = "debug"
            #else
            let build = "release"
            #endif
            let report = Report(build: build, file: file, format: log.format.rawValue, bytes: bytes.count,
                                events: log.events.count, extendingEvents: log.extendingEvents.count,
                                banks: log.replayableBanks.map(\.name), rows: rows)
            if output.json { Output.json(report); return }
            Output.line("bench bootlog (\(build) build, \(file): \(report.format), \(bytes.count) bytes, \(log.events.count) events, banks \(report.banks.joined(separator: ", ")); best of \(timing.rounds) × \(timing.seconds)s)")
            Output.line(Output.table(
                ["run", "logs/s", "events/s", "MB/s (log bytes)", "vs raw"],
                rows.map { r in
                    [r.name, String(format: "%.0f", r.logsPerSecond), String(format: "%.0f", r.eventsPerSecond),
                     String(format: "%.1f", r.megabytesPerSecond), String(format: "%.1f%%", r.ratio * 100)]
                }))
            Output.line("raw hashing: H(pcr ‖ digest) for each extending event and bank, buffers built beforehand;")
            Output.line("parse + replay: from the log's bytes, as 'bootlog replay' does.")
        }
    }

    /// One log's worth of extend hashes over pre-built buffers; true when the chained result is deterministic.
    func rawHashing(_ log: BootEventLog) -> (Int) -> Bool {
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
