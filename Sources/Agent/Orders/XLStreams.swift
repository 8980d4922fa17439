#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Migration

/// The xl processes an ``XLVMManager`` has running, by VM: receivers waiting for a stream (`agent xl-stream accept`)
/// and migrations on their way out (`xl migrate`). Both are started with a default signal mask
/// (``ProcessSupport/start(_:stdin:stdout:stderr:environment:)``): xl learns that its save/restore helper ended from
/// SIGCHLD, which a process started from one of the agent's threads would otherwise have blocked.
final class XLStreams: @unchecked Sendable {
    // @unchecked Sendable: both dictionaries are only touched under `lock`.
    let lock = NSLock()
    var receivers: [String: pid_t] = [:]
    var migrations: [String: pid_t] = [:]

    /// Starts `argv` (the receiver) on the listening socket `listener` as its standard input, its messages in `log`,
    /// and keeps it as `vm`'s receiver, ending one prepared before and never used.
    func startReceiver(_ vm: String, _ argv: [String], listener: Int32, environment: [String: String], log: String) throws {
        let pid = try ProcessSupport.start(argv, stdin: .descriptor(listener), stdout: .file(log, O_WRONLY | O_CREAT | O_TRUNC),
                                           stderr: .file(log, O_WRONLY | O_CREAT | O_APPEND), environment: environment)
        let old = lock.withLock { receivers.updateValue(pid, forKey: vm) }
        if let old { kill(old, SIGTERM) }
        Task {
            _ = await ProcessSupport.exitStatus(of: pid)
            lock.withLock { if receivers[vm] == pid { receivers[vm] = nil } }
        }
    }

    /// Ends `vm`'s receiver if it still waits.
    func endReceiver(_ vm: String) {
        if let pid = lock.withLock({ receivers.removeValue(forKey: vm) }) { kill(pid, SIGTERM) }
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
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw XLStream.Failure.errno("pipe") }
        let clock = ContinuousClock()
        let start = clock.now
        let pid: pid_t
        do {
            pid = try ProcessSupport.start(argv, stdin: .file("/dev/null", O_RDONLY), stdout: .descriptor(fds[1]), stderr: .descriptor(fds[1]),
                                           environment: environment)
        } catch {
            close(fds[0])
            close(fds[1])
            throw error
        }
        close(fds[1])
        lock.withLock { migrations[vm] = pid }
        let reader = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        let lines = await withCheckedContinuation { (continuation: CheckedContinuation<[XLMigrationLog.Line], Never>) in
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
                try? log.close()
                continuation.resume(returning: lines)
            }.start()
        }
        let status = await ProcessSupport.exitStatus(of: pid)
        lock.withLock { if migrations[vm] == pid { migrations[vm] = nil } }
        return Run(status: status, lines: lines, elapsed: clock.now - start)
    }

    /// Ends `vm`'s migration in flight by stopping its transport (xl's child, `agent xl-stream connect`): the stream
    /// breaks and xl resumes the source domain itself.
    func endMigration(_ vm: String) {
        guard let pid = lock.withLock({ migrations[vm] }) else { return }
        for child in Self.children(of: pid) { kill(child, SIGTERM) }
    }

    /// Waits (up to two minutes) until `vm`'s migration process has exited.
    func settleMigration(_ vm: String) async {
        for _ in 0..<1200 {
            guard lock.withLock({ migrations[vm] }) != nil else { return }
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
}
