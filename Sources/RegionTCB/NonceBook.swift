import Crypto
import Foundation
import TPMWire

/// The nonces the RC-TCB issued, each for one (reporter, target) pair and used once: a reporter can neither replay
/// old evidence nor invent a challenge.
///
/// A reporter holds at most ``openPerReporter`` open nonces of each ``Origin``; a new one past that drops its oldest
/// of the same origin. An honest agent holds one or two: the assignment it asked for, and the next one the answer
/// to its report carried. Without the bound, an enrolled agent that keeps asking and never reports would have the
/// RC-TCB hold a nonce for every request it answers, for the nonce's whole lifetime. The two origins are bounded
/// apart, so asking again and again drops only nonces that were asked for: the one a report's answer carried stays
/// open until it is spent or expires.
package struct NonceBook {
    /// How a nonce reached its reporter.
    enum Origin: Hashable, Sendable {
        /// An assignment the reporter asked for.
        case request
        /// The next assignment carried by the answer to the reporter's report (one spent, one issued).
        case answer
    }

    struct Issued {
        var reporter: String
        var target: String
        var issued: Date
        var origin: Origin
    }

    /// One reporter's open nonces of one origin.
    struct Holder: Hashable {
        var reporter: String
        var origin: Origin
    }

    /// Open nonces per reporter and origin (on PostgreSQL: per reporter and kind, the same bound).
    package static let openPerReporter = 16

    let lifetime: TimeInterval
    var open: [String: Issued] = [:]
    /// Each holder's open nonces, oldest first (an expired one stays listed until the next prune).
    var held: [Holder: [String]] = [:]
    var prunedAt = Date.distantPast

    init(lifetime: TimeInterval) { self.lifetime = lifetime }

    /// A fresh 32-byte nonce (hex) for `reporter` → `target`; past ``openPerReporter`` of `origin`, the reporter's
    /// oldest of that origin is no longer open.
    mutating func issue(reporter: String, target: String, now: Date, origin: Origin = .request) -> String {
        // Expired nonces are dropped once a second, not on every issue (thousands are open under load).
        if now.timeIntervalSince(prunedAt) >= 1 {
            open = open.filter { now.timeIntervalSince($0.value.issued) < lifetime }
            let stillOpen = open
            held = held.compactMapValues { list in
                let kept = list.filter { stillOpen[$0] != nil }
                return kept.isEmpty ? nil : kept
            }
            prunedAt = now
        }
        let hex = Self.fresh()
        open[hex] = Issued(reporter: reporter, target: target, issued: now, origin: origin)
        let holder = Holder(reporter: reporter, origin: origin)
        held[holder, default: []].append(hex)
        // One added at a time: at most one over the bound, its oldest dropped (no copy of the list).
        if (held[holder]?.count ?? 0) > Self.openPerReporter, let dropped = held[holder]?.removeFirst() { open[dropped] = nil }
        return hex
    }

    /// How many nonces `reporter` holds open now (both origins; expired ones not yet pruned included).
    func openCount(of reporter: String) -> Int {
        (held[Holder(reporter: reporter, origin: .request)]?.count ?? 0) + (held[Holder(reporter: reporter, origin: .answer)]?.count ?? 0)
    }

    /// Spends a nonce a report carries: it must have been issued for this pair and not have expired.
    mutating func spend(_ hex: String, reporter: String, target: String, now: Date) throws(RegionError) -> [UInt8] {
        let found: NonceSpend
        if let issued = open[hex], now.timeIntervalSince(issued.issued) < lifetime {
            found = issued.reporter == reporter && issued.target == target ? .spent : .issuedFor(reporter: issued.reporter, target: issued.target)
        } else {
            found = .unknown
        }
        if found == .spent, let issued = open.removeValue(forKey: hex) {
            let holder = Holder(reporter: issued.reporter, origin: issued.origin)
            if let i = held[holder]?.firstIndex(of: hex) { held[holder]?.remove(at: i) }
            if held[holder]?.isEmpty == true { held[holder] = nil }
        }
        return try Self.bytes(of: hex, found, reporter: reporter, target: target)
    }

    /// The nonce's bytes once it is `spent`; otherwise why it is refused (the same on every backend).
    static func bytes(of hex: String, _ found: NonceSpend, reporter: String, target: String) throws(RegionError) -> [UInt8] {
        switch found {
        case .unknown:
            throw RegionError(.nonceUnknown, "nonce \(hex.prefix(16))… was not issued by this region's RC-TCBs, is spent or expired")
        case .issuedFor(let r, let t):
            throw RegionError(.notAssigned, "the nonce was issued for \(r) → \(t), not \(reporter) → \(target)")
        case .spent:
            guard let bytes = Hex.decode(hex) else { throw RegionError(.malformedReport, "the nonce is not hex") }
            return bytes
        }
    }

    /// A fresh nonce, hex.
    static func fresh() -> String { Hex.encode(direct()) }

    /// 32 random bytes: the nonces the book issues, and the RC-TCB's own challenges (never open to a reporter).
    /// From BoringSSL's CSPRNG (seeded by the kernel's), in one call: the system generator takes one system call per
    /// 8 bytes, four for each request that is answered with a nonce.
    static func direct() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
    }
}

/// What spending a nonce found: it was open for this pair and is spent now; it is unknown (never issued, spent
/// already, or expired); or it is open for another pair (and stays open).
package enum NonceSpend: Sendable, Equatable {
    case spent
    case unknown
    case issuedFor(reporter: String, target: String)
}
