#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Foundation
import DurationUnits

/// A client for the QEMU Machine Protocol over a Unix socket: one JSON object per line.
///
/// Every read is bounded by a deadline, lines are capped in length, and anything that is
/// not QMP becomes `qmpProtocol`; nothing a peer sends can trap or make us wait forever.
/// Calls block (on a private serial queue when used through the `async` API).
package final class QMPClient: @unchecked Sendable {
    // @unchecked Sendable: all mutable state (fd, buffer) is touched only on `queue`
    // (the async API) or by the single owner of a synchronous client; `close` is idempotent.
    package static let maxLineBytes = 4 << 20

    private var fd: Int32 = -1
    private var buffer: [UInt8] = []
    /// Bytes of `buffer` already searched for a newline.
    private var scanned = 0
    private let queue = DispatchQueue(label: "smig.qmp")
    package let path: String
    package let timeout: Duration
    /// The greeting's QEMU version, e.g. "7.2.22".
    package private(set) var qemuVersion: String = ""
    private var eventLog: [QMPEvent] = []
    package static let maxEvents = 1000

    private init(path: String, timeout: Duration) {
        self.path = path
        self.timeout = timeout
    }

    deinit { closeNow() }

    /// Connects, reads the greeting and negotiates capabilities, all within `timeout`.
    package static func connect(path: String, timeout: Duration = .seconds(10)) async throws -> QMPClient {
        let client = QMPClient(path: path, timeout: timeout)
        try await client.onQueue { try client.connectNow() }
        return client
    }

    /// Runs `command` and returns its `return` value.
    @discardableResult
    package func execute(_ command: String, _ arguments: [String: JSONValue]? = nil) async throws -> JSONValue {
        try await onQueue { try self.executeNow(command, arguments) }
    }

    /// Runs an HMP command line through `human-monitor-command` and returns its text.
    package func human(_ commandLine: String) async throws -> String {
        let reply = try await execute("human-monitor-command", ["command-line": .string(commandLine)])
        guard let text = reply.string else {
            throw MigrationError(.qmpProtocol, "human-monitor-command returned a non-string")
        }
        return text
    }

    /// Asynchronous events received so far (oldest first, at most `maxEvents`).
    package func events() async -> [QMPEvent] {
        (try? await onQueue { self.eventLog }) ?? []
    }

    package func close() {
        queue.sync { closeNow() }
    }

    // MARK: - Internals (run on `queue`)

    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (cont: CheckedContinuation<T, any Error>) in
            queue.async {
                cont.resume(with: Result { try body() })
            }
        }
    }

    private func closeNow() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    private func connectNow() throws {
        let deadline = ContinuousClock.now + timeout
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard bytes.count < capacity else {
            throw MigrationError(.invalidArgument, "QMP socket path is longer than \(capacity - 1) bytes: \(path)")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        // The socket may appear a moment after the process starts: retry until the deadline.
        while true {
            let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard s >= 0 else { throw MigrationError(.io, "socket(): \(String(cString: strerror(errno)))") }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
            if rc == 0 {
                fd = s
                break
            }
            let err = errno
            _ = Glibc.close(s)
            if ContinuousClock.now >= deadline {
                throw MigrationError(.qmpTimeout, "cannot connect to QMP socket \(path): \(String(cString: strerror(err)))")
            }
            usleep(50_000)
        }
        let greeting = try readMessage(deadline: deadline)
        guard let qmp = greeting["QMP"] else {
            closeNow()
            throw MigrationError(.qmpProtocol, "\(path): first message is not a QMP greeting")
        }
        if let v = qmp["version"]?["qemu"], let ma = v["major"]?.uint64, let mi = v["minor"]?.uint64, let mc = v["micro"]?.uint64 {
            qemuVersion = "\(ma).\(mi).\(mc)"
        }
        _ = try executeNow("qmp_capabilities", nil)
    }

    private func executeNow(_ command: String, _ arguments: [String: JSONValue]?) throws -> JSONValue {
        guard fd >= 0 else { throw MigrationError(.io, "QMP connection to \(path) is closed") }
        let deadline = ContinuousClock.now + timeout
        var message: [String: JSONValue] = ["execute": .string(command)]
        if let arguments { message["arguments"] = .object(arguments) }
        var line = try JSONEncoder().encode(JSONValue.object(message))
        line.append(UInt8(ascii: "\n"))
        try writeAll([UInt8](line))
        while true {
            let reply = try readMessage(deadline: deadline)
            if let name = reply["event"]?.string {
                let secs = reply["timestamp"]?["seconds"]?.uint64 ?? 0
                let usecs = reply["timestamp"]?["microseconds"]?.uint64 ?? 0
                if eventLog.count < Self.maxEvents {
                    eventLog.append(QMPEvent(name: name, timestamp: Double(secs) + Double(usecs) / 1e6))
                }
                continue
            }
            if let ret = reply["return"] { return ret }
            if let err = reply["error"] {
                let cls = err["class"]?.string ?? "Error"
                let desc = err["desc"]?.string ?? "no description"
                throw MigrationError(.qmpCommandFailed, "\(command): \(cls): \(desc)")
            }
            if reply["QMP"] != nil { continue }
            closeNow()
            throw MigrationError(.qmpProtocol, "\(path): reply to \(command) has neither return nor error")
        }
    }

    private func writeAll(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = String(cString: strerror(errno))
                closeNow()
                throw MigrationError(.io, "write to QMP socket \(path): \(e)")
            }
            offset += n
        }
    }

    /// Reads one line and decodes it as a JSON object.
    private func readMessage(deadline: ContinuousClock.Instant) throws -> JSONValue {
        let line = try readLine(deadline: deadline)
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(line))
        } catch {
            closeNow()
            let preview = String(decoding: line.prefix(60), as: UTF8.self)
            throw MigrationError(.qmpProtocol, "\(path): not JSON: \(preview.debugDescription)")
        }
        guard case .object = value else {
            closeNow()
            throw MigrationError(.qmpProtocol, "\(path): message is not a JSON object")
        }
        return value
    }

    private func readLine(deadline: ContinuousClock.Instant) throws -> [UInt8] {
        while true {
            if let nl = buffer[scanned...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(buffer[..<nl])
                buffer.removeSubrange(...nl)
                scanned = 0
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x0d || $0 == 0x09 }) { continue }
                return line
            }
            scanned = buffer.count
            if buffer.count > Self.maxLineBytes {
                closeNow()
                throw MigrationError(.qmpProtocol, "\(path): line longer than \(Self.maxLineBytes) bytes")
            }
            let remaining = deadline - ContinuousClock.now
            let ms = remaining.wholeMilliseconds
            if ms <= 0 {
                closeNow()
                throw MigrationError(.qmpTimeout, "\(path): no answer within \(timeout)")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let rc = poll(&pfd, 1, Int32(min(ms, 60_000)))
            if rc < 0 {
                if errno == EINTR { continue }
                closeNow()
                throw MigrationError(.io, "poll on QMP socket \(path): \(String(cString: strerror(errno)))")
            }
            if rc == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                let e = String(cString: strerror(errno))
                closeNow()
                throw MigrationError(.io, "read from QMP socket \(path): \(e)")
            }
            if n == 0 {
                closeNow()
                throw MigrationError(.io, "\(path): QMP peer closed the connection")
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}

/// A QMP event: its name and QEMU's timestamp (seconds since the epoch, host clock).
package struct QMPEvent: Sendable, Hashable, Codable {
    package var name: String
    package var timestamp: Double
}
