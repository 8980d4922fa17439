import Logging
import NIOCore
import Synchronization

/// The connections a listener holds open, counted by peer address (shared by every connection of one listener).
package final class ConnectionsPerAddress: Sendable {
    /// 0: no cap.
    package let cap: Int
    let open = Mutex<[String: Int]>([:])

    package init(cap: Int) {
        self.cap = cap
    }

    /// Counts a new connection from `address`, or refuses it (false) when the address already holds `cap`.
    func admit(_ address: String) -> Bool {
        open.withLock { open in
            let n = open[address, default: 0]
            if cap > 0, n >= cap { return false }
            open[address] = n + 1
            return true
        }
    }

    func release(_ address: String) {
        open.withLock { open in
            let n = open[address, default: 0] - 1
            open[address] = n > 0 ? n : nil
        }
    }
}

/// First in a connection's pipeline: counts the connection against its peer address when it becomes active and
/// closes it at once, before a byte of TLS, when the address is over the cap; gives the count back when it closes.
final class ConnectionCapHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    let connections: ConnectionsPerAddress
    let logger: Logger
    /// Decided when the connection becomes active: counted (against its address; nil for a Unix-domain socket,
    /// which has none) or refused.
    enum Admission { case pending, counted(String?), refused }
    var admission = Admission.pending

    init(connections: ConnectionsPerAddress, logger: Logger) {
        self.connections = connections
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { _ = admit(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if admit(context) { context.fireChannelActive() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if case .counted(let address?) = admission { connections.release(address) }
        admission = .refused
        context.fireChannelInactive()
    }

    /// Counts the connection or closes it (decided once); true when it may go on.
    func admit(_ context: ChannelHandlerContext) -> Bool {
        if case .pending = admission {
            let address = context.channel.remoteAddress?.ipAddress
            if let address, !connections.admit(address) {
                admission = .refused
                logger.notice("connection refused: too many from one address",
                              metadata: ["attest.peer": "\(address)", "attest.limit": "\(connections.cap)"])
                context.close(promise: nil)
            } else {
                admission = .counted(address)
            }
        }
        if case .counted = admission { return true }
        return false
    }
}
