import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import Synchronization

/// A client that acts as a hostile peer would at the socket level: connects from a chosen source address (on
/// loopback every process shares 127.0.0.1, so a peer that must not share the RC-TCB's address uses 127.0.0.2),
/// with or without TLS, sends exactly the bytes it is given, and watches whether the server closes the connection.
final class RawTLSPeer: Sendable {
    /// A region identity to present (client certificate and key), trusting the region CA.
    struct Identity: Sendable {
        let context: NIOSSLContext

        init(ca: String, certificate: String, key: String) throws {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(ca)
            // Agent certificates name no address; the peer does not care whom it talks to.
            tls.certificateVerification = .noHostnameVerification
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            context = try NIOSSLContext(configuration: tls)
        }

        /// No client certificate (a host that has not enrolled yet), trusting the region CA.
        init(ca: String) throws {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(ca)
            tls.certificateVerification = .noHostnameVerification
            context = try NIOSSLContext(configuration: tls)
        }
    }

    enum Handshake: Equatable {
        case completed, closed, pending
    }

    /// What the peer read, and how the handshake went.
    final class Record: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let bytes = Mutex<[UInt8]>([])
        let handshake = Mutex(Handshake.pending)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            bytes.withLock { $0 += buffer.readableBytesView }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls { handshake.withLock { $0 = .completed } }
            context.fireUserInboundEventTriggered(event)
        }

        func channelInactive(context: ChannelHandlerContext) {
            handshake.withLock { if $0 == .pending { $0 = .closed } }
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    let channel: any Channel
    let record: Record

    init(channel: any Channel, record: Record) {
        self.channel = channel
        self.record = record
    }

    /// Connects to 127.0.0.1:`port` from `source`; with `identity`, starts a TLS handshake presenting it.
    static func connect(port: Int, from source: String = "127.0.0.2", identity: Identity?) async throws -> RawTLSPeer {
        let record = Record()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(to: try SocketAddress(ipAddress: source, port: 0))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let identity {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: identity.context, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(record)
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawTLSPeer(channel: channel, record: record)
    }

    /// Waits (at most `seconds`) for the TLS handshake to complete or the connection to close.
    func handshake(within seconds: Double) async -> Handshake {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let h = record.handshake.withLock { $0 }
            if h != .pending { return h }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return record.handshake.withLock { $0 }
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// True when the server closes the connection within `seconds`; else the peer closes it and answers false.
    func closedByServer(within seconds: Double) async -> Bool {
        let channel = self.channel
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await channel.closeFuture.get()) != nil || !channel.isActive }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return false
            }
            let first = await group.next() ?? false
            if !first { channel.close(promise: nil) }
            group.cancelAll()
            return first
        }
    }

    /// Still open after `seconds` (a server that closes at once has not waited for any time-out).
    func stillOpen(after seconds: Double) async -> Bool {
        try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
        return channel.isActive
    }

    func close() {
        channel.close(promise: nil)
    }

    /// Everything the server sent, as text.
    var received: String { String(decoding: record.bytes.withLock { $0 }, as: UTF8.self) }

    /// One HTTP/1.1 request with `Connection: close`: the answer's text once the server closed, or nil when the
    /// connection was refused before an answer (closed during the handshake, or no answer within `seconds`).
    static func request(port: Int, identity: Identity, path: String, body: String, within seconds: Double = 60) async -> String? {
        guard let peer = try? await connect(port: port, identity: identity) else { return nil }
        guard await peer.handshake(within: seconds) == .completed else {
            peer.close()
            return nil
        }
        let head = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n"
        do { try await peer.send(head + body) } catch {
            peer.close()
            return nil
        }
        _ = await peer.closedByServer(within: seconds)
        let text = peer.received
        return text.isEmpty ? nil : text
    }
}
