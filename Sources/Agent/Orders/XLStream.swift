#if canImport(Glibc)
import Glibc
#endif
import DurationUnits
import Foundation
package import RegionProtocol

/// The migration stream between two dom0s' agents, which `xl migrate -s` uses in place of ssh: no keys between hosts.
///
/// The target's agent, told to `prepare`, opens a listening socket on its migration address with a fresh one-time
/// token and starts `smig-attest agent xl-stream accept` on it, which takes the first connection that presents the
/// token, then becomes `xl migrate-receive -p` on that connection (the destination stays paused). The target answers
/// `prepare` with `xl-stream://HOST:PORT/TOKEN`; the RC-TCB hands that to the source's agent in the migrate order. The
/// source's agent runs `xl migrate -s "smig-attest agent xl-stream connect" -p VM xl-stream://HOST:PORT` with the token
/// in the environment; xl starts the helper as its transport (`HELPER ADDRESS xl migrate-receive -p`), which connects,
/// presents the token and relays xl's pipes to the socket and back. What the target runs is decided there, never by
/// the command words the source sends.
///
/// The token keeps other machines' connections out; the stream itself is not encrypted (as xl's own `-s ""` raw mode):
/// run it on the hosts' migration network.
package enum XLStream {
    /// The environment variable that carries the token to both helpers (never a command-line argument).
    package static let tokenVariable = "SMIG_XL_STREAM_TOKEN"
    /// Bytes of the token line the accepting side reads at most.
    static let tokenLineLimit = 256

    /// An `xl-stream://HOST:PORT[/TOKEN]` address.
    package struct Address: Hashable, Sendable, CustomStringConvertible {
        package var host: String
        package var port: Int
        package var token: String?

        package init(host: String, port: Int, token: String? = nil) {
            self.host = host
            self.port = port
            self.token = token
        }

        /// Reads `xl-stream://HOST:PORT[/TOKEN]`: HOST a name or IPv4 address, or an IPv6 address in brackets; the token
        /// 32 to 128 hex digits. Anything else is `order.malformed`.
        package init(parsing text: String) throws(MigrationOrderError) {
            let scheme = "xl-stream://"
            guard text.hasPrefix(scheme), text.utf8.count <= 512 else {
                throw MigrationOrderError(.malformed, "'\(text.prefix(64))' is not an xl-stream://HOST:PORT/TOKEN address")
            }
            var rest = Substring(text.dropFirst(scheme.count))
            var token: String?
            if let slash = rest.firstIndex(of: "/") {
                let t = String(rest[rest.index(after: slash)...])
                guard (32...128).contains(t.count), t.allSatisfy(\.isHexDigit) else {
                    throw MigrationOrderError(.malformed, "the token of \(scheme)… must be 32 to 128 hex digits")
                }
                token = t
                rest = rest[..<slash]
            }
            guard let colon = rest.lastIndex(of: ":"), let port = Int(rest[rest.index(after: colon)...]), (1...65535).contains(port) else {
                throw MigrationOrderError(.malformed, "\(scheme)\(rest.prefix(64)) names no port (1-65535)")
            }
            var host = String(rest[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:")
            guard (1...253).contains(host.count), host.allSatisfy({ allowed.contains($0) }), !host.hasPrefix("-") else {
                throw MigrationOrderError(.malformed, "\(scheme)… names no host (a name, an IPv4 address or an [IPv6] address)")
            }
            self.init(host: host, port: port, token: token)
        }

        /// The address without its token: what goes on xl's command line.
        package var withoutToken: String { "xl-stream://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
        package var description: String { withoutToken + (token.map { "/\($0)" } ?? "") }
    }

    /// A fresh token: 32 random bytes in hex.
    package static func newToken() -> String {
        var rng = SystemRandomNumberGenerator()
        return (0..<4).map { _ in String(format: "%016llx", rng.next() as UInt64) }.joined()
    }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        init(_ description: String) { self.description = description }
        static func errno(_ what: String) -> Failure { Failure("\(what): \(String(cString: strerror(Glibc.errno)))") }
    }

    // MARK: Target side

    /// A listening TCP socket on `host` (port 0: one the kernel picks); returns the descriptor and its port.
    package static func listen(host: String, port: Int = 0) throws -> (fd: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { throw Failure("cannot resolve \(host)") }
        defer { freeaddrinfo(list) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure.errno("socket") }
        var one: Int32 = 1
        _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0, Glibc.listen(fd, 4) == 0 else {
            let failure = Failure.errno("cannot listen on \(host):\(port)")
            close(fd)
            throw failure
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let bound: UInt16 = withUnsafePointer(to: &storage) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }  // sin6_port is at the same offset
        }
        return (fd, Int(bound))
    }

    /// Takes connections on the listening socket `listener` until one presents `token` (compared in constant time) or
    /// `deadline` passes; a connection with another token is closed. Returns the accepted connection.
    package static func acceptPresenting(_ token: String, on listener: Int32, until deadline: ContinuousClock.Instant) throws -> Int32 {
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let left = deadline - ContinuousClock.now
            let ms = Int32(clamping: max(1, left.wholeMilliseconds))
            let ready = poll(&poller, 1, min(ms, 1000))
            if ready < 0, errno != EINTR { throw Failure.errno("poll") }
            guard ready > 0 else { continue }
            let conn = accept(listener, nil, nil)
            guard conn >= 0 else { continue }
            _ = fcntl(conn, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            _ = setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            if let line = readLine(conn), constantTimeEqual(line, token) {
                timeout = timeval(tv_sec: 0, tv_usec: 0)
                _ = setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                return conn
            }
            close(conn)
        }
        throw Failure("no connection presented the token before the deadline")
    }

    /// One line (without its newline) read byte by byte, so nothing after it is consumed; nil past the limit or on EOF.
    static func readLine(_ fd: Int32) -> String? {
        var bytes: [UInt8] = []
        var byte: UInt8 = 0
        while bytes.count < tokenLineLimit {
            guard read(fd, &byte, 1) == 1 else { return nil }
            if byte == UInt8(ascii: "\n") { return String(decoding: bytes, as: UTF8.self) }
            bytes.append(byte)
        }
        return nil
    }

    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// Replaces this process with `argv` reading and writing `connection` (its standard input and output).
    /// Signals come as a fresh process expects them: none blocked (this thread may be one of the concurrency pool's,
    /// which block them all; xl learns from SIGCHLD that its restore helper ended), SIGPIPE and SIGCHLD by default.
    package static func exec(_ argv: [String], on connection: Int32) throws -> Never {
        guard dup2(connection, 0) >= 0, dup2(connection, 1) >= 0 else { throw Failure.errno("dup2") }
        var none = sigset_t()
        sigemptyset(&none)
        pthread_sigmask(SIG_SETMASK, &none, nil)
        signal(SIGPIPE, SIG_DFL)
        signal(SIGCHLD, SIG_DFL)
        if connection > 1 { close(connection) }
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        execvp(argv[0], cArgs)
        throw Failure.errno("cannot run \(argv[0])")
    }

    // MARK: Source side

    /// Connects to `address` and presents its token.
    package static func connect(_ address: Address, token: String) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_flags = AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(address.host, String(address.port), &hints, &list) == 0, let first = list else {
            throw Failure("cannot resolve \(address.host)")
        }
        defer { freeaddrinfo(list) }
        var next: UnsafeMutablePointer<addrinfo>? = first
        var last = Failure("no address for \(address.host)")
        while let ai = next {
            next = ai.pointee.ai_next
            let fd = socket(ai.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { last = Failure.errno("socket"); continue }
            if Glibc.connect(fd, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                guard writeAll(fd, Array((token + "\n").utf8)) else { close(fd); throw Failure.errno("cannot send the token to \(address.withoutToken)") }
                return fd
            }
            last = Failure.errno("cannot connect to \(address.withoutToken)")
            close(fd)
        }
        throw last
    }

    /// Relays this process's standard input to `connection` and `connection` to its standard output until both
    /// directions ended (end of input: the socket's write side is shut down, so the peer sees the end too).
    package static func relay(_ connection: Int32) {
        // A peer that went away is an ended direction, not a reason to die.
        signal(SIGPIPE, SIG_IGN)
        let up = Thread {
            copy(from: 0, to: connection)
            _ = shutdown(connection, Int32(SHUT_WR))
        }
        up.start()
        copy(from: connection, to: 1)
        close(1)
        // The peer ended the stream: what xl still sends has nowhere to go.
        _ = shutdown(connection, Int32(SHUT_RDWR))
    }

    static func copy(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0, writeAll(sink, Array(buffer[0..<n])) else { return }
        }
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { return false }
            offset += n
        }
        return true
    }
}
