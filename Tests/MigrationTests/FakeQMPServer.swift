#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A Unix-socket server that misbehaves on purpose, on its own thread.
final class FakeQMPServer: @unchecked Sendable {
    // @unchecked Sendable: `fd` and `stopped` are guarded by `lock`; the rest is immutable.
    enum Behaviour: Sendable {
        /// Sends a line that is not JSON.
        case garbage
        /// Accepts and never writes.
        case silent
        /// Sends a valid greeting, then answers nothing.
        case greetingThenSilent
        /// Greets, accepts capabilities, then answers every command with an error.
        case errorReplies
        /// Sends an endless line without a newline.
        case endlessLine
    }

    let path: String
    private let lock = NSLock()
    private var fd: Int32 = -1
    private var stopped = false
    private let behaviour: Behaviour

    /// Serves at `path`; with `after`, binds only once that file exists (so a launcher that
    /// clears stale sockets before starting cannot remove ours).
    init(path: String, behaviour: Behaviour, after: String? = nil) throws {
        self.path = path
        self.behaviour = behaviour
        if let after {
            let thread = Thread { [self] in
                for _ in 0..<500 where !FileManager.default.fileExists(atPath: after) { usleep(10_000) }
                guard (try? bindAndListen()) != nil else { return }
                serve()
            }
            thread.start()
            return
        }
        try bindAndListen()
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    private func bindAndListen() throws {
        unlink(path)
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0, listen(s, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        lock.lock()
        defer { lock.unlock() }
        if stopped { close(s) } else { fd = s }
    }

    private var listeningFD: Int32 {
        lock.lock()
        defer { lock.unlock() }
        return fd
    }

    private func send(_ c: Int32, _ text: String) {
        _ = text.withCString { Glibc.send(c, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    }

    private func serve() {
        while true {
            let c = accept(listeningFD, nil, nil)
            if c < 0 { return }
            switch behaviour {
            case .garbage:
                send(c, "HTTP/1.1 200 OK garbage\r\n")
            case .silent:
                break
            case .greetingThenSilent:
                send(c, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\n")
            case .errorReplies:
                send(c, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\n")
                var buf = [UInt8](repeating: 0, count: 4096)
                var first = true
                while true {
                    let n = recv(c, &buf, buf.count, 0)
                    if n <= 0 { break }
                    if first {
                        send(c, "{\"return\": {}}\n")
                        first = false
                    } else {
                        send(c, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"nope\"}}\n")
                    }
                }
            case .endlessLine:
                let chunk = String(repeating: "x", count: 65536)
                for _ in 0..<200 { send(c, chunk) }
            }
            // Hold the connection open (the client must time out on its own); closed by stop().
            if behaviour != .errorReplies { sleep(30) }
            close(c)
        }
    }

    func stop() {
        lock.lock()
        stopped = true
        let s = fd
        lock.unlock()
        if s >= 0 {
            shutdown(s, Int32(SHUT_RDWR))
            close(s)
        }
        unlink(path)
    }
}
