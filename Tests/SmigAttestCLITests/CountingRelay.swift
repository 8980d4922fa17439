import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A TCP relay from a loopback port the system chooses to `127.0.0.1:target`, counting the connections it accepted:
/// it shows how many times a client tried to connect (a client that retries a failed TLS handshake connects again).
/// Bytes pass unchanged, so TLS runs end to end between the client and the real server.
final class CountingRelay: @unchecked Sendable {   // `connections` is guarded by `lock`; the rest is immutable
    let port: Int
    private let listener: Int32
    private let lock = NSLock()
    private var connections = 0

    /// The connections accepted so far.
    var accepted: Int { lock.withLock { connections } }

    init(to target: Int) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard fd >= 0, bound, listen(fd, 64) == 0 else { throw CLIFixtureFailure(description: "relay: cannot listen: errno \(errno)") }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { return }
                lock.withLock { connections += 1 }
                let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
                var to = Self.loopback(port: target)
                let connected = withUnsafePointer(to: &to) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
                }
                guard connected else { close(client); close(server); continue }
                let pair = Pair(client, server)
                Thread.detachNewThread { pair.copy(from: client, to: server) }
                Thread.detachNewThread { pair.copy(from: server, to: client) }
            }
        }
    }

    /// Stops accepting (connections in progress run to their end).
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    /// A loopback port that was free a moment ago (the system chose it for a socket closed since).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard fd >= 0, bound else { throw CLIFixtureFailure(description: "no free port: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func loopback(port: Int) -> sockaddr_in {
        var a = sockaddr_in()
        a.sin_family = sa_family_t(AF_INET)
        a.sin_port = UInt16(port).bigEndian
        a.sin_addr.s_addr = inet_addr("127.0.0.1")
        return a
    }

    /// One relayed connection: each direction copies until end of stream; the second to finish closes both sockets.
    final class Pair: @unchecked Sendable {   // `finished` is guarded by `lock`
        let a: Int32, b: Int32
        let lock = NSLock()
        var finished = 0
        init(_ a: Int32, _ b: Int32) { (self.a, self.b) = (a, b) }

        func copy(from: Int32, to: Int32) {
            var buffer = [UInt8](repeating: 0, count: 16 << 10)
            loop: while true {
                let n = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                var sent = 0
                while sent < n {
                    let w = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, n - sent, Int32(MSG_NOSIGNAL)) }
                    if w <= 0 { break loop }
                    sent += w
                }
            }
            shutdown(to, Int32(SHUT_WR))
            let last = lock.withLock { finished += 1; return finished == 2 }
            if last { close(a); close(b) }
        }
    }
}
