package import Hummingbird
import NIOCore
import NIOSSL
import X509
import SwiftASN1
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

    /// The identity named by the client certificate (already verified against the region CA by TLS), if any.
    package func peerIdentity() async -> RegionIdentity? {
        guard let peer = try? await channel.nioSSL_peerCertificate().get(),
              let der = try? peer.toDERBytes() else { return nil }
        if let known = PeerIdentityCache.shared.identity(der) { return known }
        guard let cert = try? Certificate(derEncoded: der), let id = RegionIdentity(certificate: cert) else { return nil }
        PeerIdentityCache.shared.remember(der, id)
        return id
    }
}
