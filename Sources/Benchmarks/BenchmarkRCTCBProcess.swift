import ChildProcesses
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import RegionLab

/// `bench region`'s RC-TCB: the real `smig-attest rctcb serve` as a child process of the benchmark, on a port the
/// OS chooses, over the benchmark region's directory, on its SQLite IVT or (`store`) the PostgreSQL store at that URL.
/// Its CPU time and peak RSS are read from /proc.
final class BenchmarkRCTCBProcess: @unchecked Sendable {
    // @unchecked Sendable: every property is set once in init; Process is safe to query from any thread.
    let process: Process
    let port: Int
    let log: String

    /// `store`: a PostgreSQL URL (`--store`, with the bench's lease); `extra`: more `rctcb serve` arguments (`--lease`
    /// for `bench failover`).
    init(region: String, directory: String, store: String? = nil, extra: [String] = [], seconds: Double = 300) async throws {
        let portFile = directory + "/rctcb.port"
        log = directory + "/rctcb.log"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: OwnExecutable.path)
        p.arguments = ["rctcb", "serve", "--region", region, "--dir", directory, "--listen", "127.0.0.1", "--port", "0",
                       "--port-file", portFile, "--log-level", "warning",
                       // One process speaks for every simulated host, all from 127.0.0.1.
                       "--max-connections-per-address", "0", "--new-connections-per-second", "0",
                       "--agent-requests-per-second", "0"] + (store.map { ["--store", $0, "--lease", "\(Self.lease)"] } ?? []) + extra
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = out
        p.standardError = out
        p.standardInput = FileHandle.nullDevice
        try p.run()
        process = p
        guard let bound = await PortFile.wait(portFile, writtenBy: p, within: .seconds(seconds)) else {
            await p.stop(grace: .seconds(5))
            throw BenchmarkError(.rctcbDidNotStart, "the benchmark RC-TCB (rctcb serve) did not start within \(Int(seconds)) s: \(Self.tail(log))")
        }
        port = bound
    }

    /// The lease (seconds) of the benchmark's RC-TCB on PostgreSQL. It is the region's only RC-TCB, so the lease only
    /// fences its writes; with the default of 3 s, at 10,000 hosts on two shared cores the renewal (every second)
    /// fell behind the load, the lease ran out and the RC-TCB stepped down and exited mid-run.
    static let lease = 60

    /// The end of the RC-TCB's log, for a failure message.
    var logTail: String { Self.tail(log) }

    static func tail(_ log: String) -> String { String(((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").suffix(2000)) }

    /// User + system CPU seconds of the RC-TCB process so far.
    var cpuSeconds: Double { ProcStat.cpuSeconds(process.processIdentifier) ?? 0 }

    /// Peak resident set of the RC-TCB process (VmHWM), in MB.
    var maxRSSMegabytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return (kb / 1024).rounded()
    }

    /// SIGTERM (graceful shutdown), then SIGKILL after `grace`.
    func stop(grace: Duration = .seconds(20)) async { await process.stop(grace: grace) }
}
