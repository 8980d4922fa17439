import Logging
import NIOCore
import Synchronization

/// The connections a listener holds open, counted by peer address, and how fast each address opens new ones (shared
/// by every connection of one listener).
package final class ConnectionsPerAddress: Sendable {
    /// 0: no cap.
    package let cap: Int
    let open = Mutex<[String: Int]>([:])
    /// New connections per address: each costs a TLS handshake (the server's key operations) before anyone is known.
    let arrivals: RequestBudget

    /// `newPerSecond`: new connections one address may open per second, in bursts of four seconds' worth (0: no limit).
    package init(cap: Int, newPerSecond: Double = 0) {
        self.cap = cap
        arrivals = RequestBudget(.perSecond(newPerSecond), metric: RequestBudget.connectionMetric)
    }

    package enum Admission: Equatable, Sendable {
        case admitted
        case overCap
        /// `report`: the address's first refusal in a minute (worth a log line).
        case overRate(report: Bool)
    }

    /// Counts a new connection from `address`, or refuses it when the address opens connections faster than its
    /// rate or already holds `cap`.
    package func admit(_ address: String) -> Admission {
        if case .refused(let report) = arrivals.take(address) { return .overRate(report: report) }
        return open.withLock { open in
            let n = open[address, default: 0]
            if cap > 0, n >= cap { return .overCap }
            open[address] = n + 1
            return .admitted
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
/// closes it at once, before a byte of TLS, when the address is over the cap or opens connections faster than its
/// rate; gives the count back when it closes.
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
            switch address.map(connections.admit) ?? .admitted {
            case .admitted:
                admission = .counted(address)
            case .overCap:
                admission = .refused
                logger.notice("connection refused: too many from one address",
                              metadata: ["attest.peer": "\(address ?? "-")", "attest.limit": "\(connections.cap)"])
                context.close(promise: nil)
            case .overRate(let report):
                admission = .refused
                if report {
                    logger.notice("connections refused: opened faster than one address may (logged once a minute)",
                                  metadata: ["attest.peer": "\(address ?? "-")", "attest.limit": "\(connections.arrivals.limit?.description ?? "-")"])
                }
                context.close(promise: nil)
            }
        }
        if case .counted = admission { return true }
        return false
    }
}
