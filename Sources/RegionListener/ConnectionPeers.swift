import NIOCore
import NIOSSL
import NIOTLS
import RegionProtocol
import SwiftASN1
import Synchronization
import X509

/// The identity each open connection's client certificate names, read once on the connection's event loop when
/// its TLS handshake completes (``ConnectionPeerHandler``), so a route reads it with one lock instead of a hop to
/// that event loop per request (`Channel.nioSSL_peerCertificate()` schedules a task on the loop, wakes it and
/// waits for its answer).
///
/// An entry holds its channel weakly and is found only by that same channel object: an entry its connection left
/// behind can never be read for another connection, even one whose channel took the old one's address.
final class ConnectionPeers: Sendable {
    static let shared = ConnectionPeers()

    /// One connection's peer, as its handshake verified it (nil: it presented no certificate, or none that names a
    /// region identity).
    final class Entry: Sendable {
        weak let channel: (any Channel)?
        let identity: RegionIdentity?

        init(channel: any Channel, identity: RegionIdentity?) {
            self.channel = channel
            self.identity = identity
        }
    }

    private let table = Mutex<[ObjectIdentifier: Entry]>([:])

    /// The peer recorded for `channel`: `.some(identity)` once its handshake completed, nil when none was recorded
    /// (a listener without ``ConnectionPeerHandler``, or a connection already closed).
    func peer(of channel: any Channel) -> RegionIdentity?? {
        table.withLock { t -> RegionIdentity?? in
            guard let entry = t[ObjectIdentifier(channel)], entry.channel === channel else { return nil }
            return .some(entry.identity)
        }
    }

    func record(_ identity: RegionIdentity?, for channel: any Channel) {
        table.withLock { $0[ObjectIdentifier(channel)] = Entry(channel: channel, identity: identity) }
    }

    func forget(_ channel: any Channel) {
        // An entry under this live channel's key is its own or a closed channel's: either goes.
        _ = table.withLock { $0.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// The region identity a verified client certificate names (nil: none). Parsed once per connection, at its
    /// handshake, which costs far more than the parse.
    static func identity(of peer: NIOSSLCertificate?) -> RegionIdentity? {
        guard let der = try? peer?.toDERBytes(), let cert = try? Certificate(derEncoded: der) else { return nil }
        return RegionIdentity(certificate: cert)
    }
}

/// Records a connection's verified peer in ``ConnectionPeers`` when its TLS handshake completes, and forgets it when
/// the connection's pipeline is torn down (which closing it always does). It sits right after the TLS handler, whose
/// certificate it reads on the event loop.
final class ConnectionPeerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
            let peer = try? context.pipeline.syncOperations.nioSSL_peerCertificate()
            ConnectionPeers.shared.record(ConnectionPeers.identity(of: peer), for: context.channel)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ConnectionPeers.shared.forget(context.channel)
    }
}
