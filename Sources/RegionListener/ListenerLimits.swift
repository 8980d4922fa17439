package import NIOCore

/// The time-outs and the connection cap of a region HTTPS listener (the RC-TCB's and every agent's quote endpoint).
///
/// A peer that opens connections and then says nothing, or says a request slowly, holds a descriptor and a slot of
/// the server for as long as it is let: every phase of a connection has a deadline, and one address may hold only so
/// many connections. The defaults are safe for a region: a TLS handshake over a region network takes milliseconds, a
/// request head and body (at most a few MB of evidence) arrive in well under a second, and the clients of the
/// region (agents, the RC-TCB's challenger) close an idle pooled connection after 60 s themselves, before the server
/// would.
package struct ListenerLimits: Sendable, Hashable {
    /// From the TCP connection to the end of the TLS handshake.
    package var handshakeTimeout: TimeAmount
    /// From the first byte of a request to the end of its head (request line and headers).
    package var headerTimeout: TimeAmount
    /// From the end of a request's head to the end of its body: the whole body, however slowly it trickles in.
    package var bodyTimeout: TimeAmount
    /// A connection with no request in progress is closed after this long (Hummingbird's HTTP/1 idle time-out).
    package var idleTimeout: TimeAmount
    /// Connections open at once from one peer address; the excess are closed as they are accepted. 0: no cap.
    package var maxConnectionsPerAddress: Int
    /// New connections one peer address may open per second on average, in bursts of four seconds' worth; the
    /// excess are closed as they are accepted, before any TLS (a handshake costs the server its key operations
    /// before it knows who calls). 0: no limit.
    package var newConnectionsPerSecond: Double

    package init(handshakeTimeout: TimeAmount, headerTimeout: TimeAmount, bodyTimeout: TimeAmount, idleTimeout: TimeAmount,
                 maxConnectionsPerAddress: Int, newConnectionsPerSecond: Double) {
        self.handshakeTimeout = handshakeTimeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.newConnectionsPerSecond = newConnectionsPerSecond
    }

    /// The RC-TCB's listener: an agent keeps a few connections (ring duty, reports, notices) and the operator's
    /// tools a few more; 64 per address leaves room for hosts behind one NAT address, and so do 50 new connections
    /// a second (an agent keeps its connection open; each operator command opens one).
    package static let rctcb = ListenerLimits(handshakeTimeout: .seconds(10), headerTimeout: .seconds(10), bodyTimeout: .seconds(30),
                                              idleTimeout: .seconds(90), maxConnectionsPerAddress: 64, newConnectionsPerSecond: 50)

    /// An agent's quote endpoint: only the RC-TCB and the ring neighbour measuring this host call it, each on a
    /// connection or two that stay open.
    package static let agent = ListenerLimits(handshakeTimeout: .seconds(10), headerTimeout: .seconds(10), bodyTimeout: .seconds(30),
                                              idleTimeout: .seconds(90), maxConnectionsPerAddress: 16, newConnectionsPerSecond: 10)
}
