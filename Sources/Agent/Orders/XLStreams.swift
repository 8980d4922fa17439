#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The xl processes an ``XLVMManager`` has running, by VM: receivers waiting for a stream (`agent xl-stream accept`)
/// and migrations on their way out (`xl migrate`).
final class XLStreams: @unchecked Sendable {
    // @unchecked Sendable: both dictionaries are only touched under `lock`.
    let lock = NSLock()
    var receivers: [String: Process] = [:]
    var migrations: [String: Process] = [:]

    /// Keeps `process` as `vm`'s receiver, ending one prepared before and never used.
    func replaceReceiver(_ vm: String, _ process: Process) {
        let old = lock.withLock { receivers.updateValue(process, forKey: vm) }
        if let old, old.isRunning { old.terminate() }
    }

    /// Ends `vm`'s receiver if it still waits.
    func endReceiver(_ vm: String) {
        if let old = lock.withLock({ receivers.removeValue(forKey: vm) }), old.isRunning { old.terminate() }
    }

    struct Run: Sendable {
        var status: Int32
        var lines: [XLMigrationLog.Line]
        var elapsed: Duration
    }

    /// Runs `argv` (xl migrate) with its standard output and error read line by line as they come, each line time-
    /// stamped, copied to `log` and reported through `update` (all lines so far); returns when xl exited.
    func runMigration(_ vm: String, _ argv: [String], environment: [String: String], log: FileHandle,
                      update: @escaping @Sendable ([XLMigrationLog.Line]) -> Void) async throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.resolve(argv[0]))
        process.arguments = Array(argv.dropFirst())
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let clock = ContinuousClock()
        let start = clock.now
        try process.run()
        try? pipe.fileHandleForWriting.close()
        lock.withLock { migrations[vm] = process }
        defer { lock.withLock { if migrations[vm] === process { migrations[vm] = nil } } }
        let reader = pipe.fileHandleForReading
        return await withCheckedContinuation { (continuation: CheckedContinuation<Run, Never>) in
            Thread {
                var lines: [XLMigrationLog.Line] = []
                var pending: [UInt8] = []
                while true {
                    let chunk = reader.availableData
                    if chunk.isEmpty { break }
                    try? log.write(contentsOf: chunk)
                    let at = clock.now - start
                    pending += chunk
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        lines.append(XLMigrationLog.Line(at: at, text: String(decoding: pending[..<newline], as: UTF8.self)))
                        pending.removeSubrange(...newline)
                    }
                    update(lines)
                }
                if !pending.isEmpty { lines.append(XLMigrationLog.Line(at: clock.now - start, text: String(decoding: pending, as: UTF8.self))) }
                process.waitUntilExit()
                try? log.close()
                continuation.resume(returning: Run(status: process.terminationStatus, lines: lines, elapsed: clock.now - start))
            }.start()
        }
    }

    /// Ends `vm`'s migration in flight by stopping its transport (xl's child, `agent xl-stream connect`): the stream
    /// breaks and xl resumes the source domain itself.
    func endMigration(_ vm: String) {
        guard let process = lock.withLock({ migrations[vm] }), process.isRunning else { return }
        for child in Self.children(of: process.processIdentifier) { kill(child, SIGTERM) }
    }

    /// Waits (up to two minutes) until `vm`'s migration process has exited.
    func settleMigration(_ vm: String) async {
        for _ in 0..<1200 {
            guard let process = lock.withLock({ migrations[vm] }), process.isRunning else { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The processes whose parent is `pid` (from /proc/PID/stat's fourth field).
    static func children(of pid: Int32) -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { name -> Int32? in
            guard let child = Int32(name), let stat = try? String(contentsOfFile: "/proc/\(name)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid ? child : nil
        }
    }

    /// `name` as a path: itself when it has a slash, else the first executable of that name in PATH.
    static func resolve(_ name: String) -> String {
        if name.contains("/") { return name }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        for dir in path.split(separator: ":") where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
            return "\(dir)/\(name)"
        }
        return name
    }
}
