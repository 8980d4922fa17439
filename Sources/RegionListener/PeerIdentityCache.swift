import Foundation
import RegionProtocol
import Synchronization

/// Identities read from client certificates, by the certificate's DER bytes: a connection presents the same
/// certificate on every request, and parsing X.509 per request costs more than the request. Only certificates
/// the TLS handshake already verified against the region CA reach it; the identity is a pure function of the
/// bytes, so a hit is exactly what parsing would give. Bounded: cleared when full.
final class PeerIdentityCache: Sendable {
    static let shared = PeerIdentityCache()
    static let capacity = 100_000

    let table = Mutex<[[UInt8]: RegionIdentity]>([:])

    func identity(_ der: [UInt8]) -> RegionIdentity? {
        table.withLock { $0[der] }
    }

    func remember(_ der: [UInt8], _ id: RegionIdentity) {
        table.withLock { t in
            if t.count >= Self.capacity { t.removeAll(keepingCapacity: true) }
            t[der] = id
        }
    }
}
