package import NIOCore

/// Who a connection without a client certificate is, for a budget per caller: its peer address, as much of it as
/// one party holds. An IPv4 address whole; an IPv6 address by its /64 (a network is given at least a /64 and may use
/// every address in it, so counting single IPv6 addresses would let one party make up callers at will); an IPv4
/// address mapped into IPv6 as the IPv4 address it is; a Unix-domain socket, or no address, as `local`.
package enum PeerAddressKey {
    package static func key(of address: SocketAddress?) -> String {
        switch address {
        case .v4:
            return address?.ipAddress ?? "local"
        case .v6(let a):
            // struct sockaddr_in6: family (2 bytes), port (2), flow information (4), then the 16 bytes of the address.
            let bytes = withUnsafeBytes(of: a.address) { raw in raw.count >= 24 ? Array(raw[8..<24]) : [UInt8](repeating: 0, count: 16) }
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xff, bytes[11] == 0xff {
                return bytes[12..<16].map(String.init).joined(separator: ".")
            }
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        case .unixDomainSocket, nil:
            return "local"
        }
    }
}
