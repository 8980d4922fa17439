package import Hummingbird
import NIOCore
import NIOSSL
package import RegionProtocol

/// The request context of the region's routes (the RC-TCB's and the agents' quote endpoint): Hummingbird's, plus
/// the connection's channel so a route can read the client certificate the TLS handshake verified against the
/// region CA.
package struct RegionRequestContext: RequestContext {
    package var coreContext: CoreRequestContextStorage
    let channel: any Channel

    package init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Who the connection's peer is for a budget per address (``PeerAddressKey``).
    package var peerAddressKey: String { PeerAddressKey.key(of: channel.remoteAddress) }

    /// The identity named by the client certificate (already verified against the region CA by TLS), if any: as
    /// recorded at the connection's handshake (``ConnectionPeers``), else read from its TLS handler on its event loop.
    package func peerIdentity() async -> RegionIdentity? {
        if let recorded = ConnectionPeers.shared.peer(of: channel) { return recorded }
        return ConnectionPeers.identity(of: try? await channel.nioSSL_peerCertificate().get())
    }
}
