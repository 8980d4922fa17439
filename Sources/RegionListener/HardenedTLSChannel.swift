package import HummingbirdCore
package import Logging
import NIOCore
import NIOHTTP1
package import NIOSSL

/// A region listener's connection: the connection cap per address, TLS, the record of its verified peer
/// (``ConnectionPeerHandler``), the deadlines of ``ConnectionDeadlineHandler``, then Hummingbird's HTTP/1 (with its
/// idle time-out) — in that order, so a refused connection costs no TLS and every phase of an admitted one has a
/// deadline.
struct HardenedTLSChannel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value

    let base: HTTP1Channel
    let tls: NIOSSLContext
    let limits: ListenerLimits
    let connections: ConnectionsPerAddress
    let logger: Logger

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let limits = self.limits, connections = self.connections, tls = self.tls, log = self.logger
        return channel.eventLoop.makeCompletedFuture {
            let pipeline = channel.pipeline.syncOperations
            try pipeline.addHandler(ConnectionCapHandler(connections: connections, logger: log))
            try pipeline.addHandler(NIOSSLServerHandler(context: tls))
            try pipeline.addHandler(ConnectionPeerHandler())
            try pipeline.addHandler(ConnectionDeadlineHandler(limits: limits, logger: log))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }.flatMapThrowing { value in
            // Between the HTTP/1 decoder and Hummingbird's codec, where request heads, bodies and responses are parts.
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(RequestProgressHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// HTTP/1 over TLS with the region's listener limits (time-outs of every phase, connections per address).
    package static func hardenedTLS(_ tls: TLSConfiguration, limits: ListenerLimits, logger: Logger) throws -> HTTPServerBuilder {
        let context = try NIOSSLContext(configuration: tls)
        let connections = ConnectionsPerAddress(cap: limits.maxConnectionsPerAddress, newPerSecond: limits.newConnectionsPerSecond)
        return .init { responder in
            HardenedTLSChannel(base: HTTP1Channel(responder: responder, configuration: .init(idleTimeout: limits.idleTimeout)),
                               tls: context, limits: limits, connections: connections, logger: logger)
        }
    }
}
