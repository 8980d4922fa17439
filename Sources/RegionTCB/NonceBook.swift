import Foundation
import TPMWire

/// The nonces the RC-TCB issued, each for one (reporter, target) pair and used once: a reporter can neither replay
/// old evidence nor invent a challenge.
struct NonceBook {
    struct Issued {
        var reporter: String
        var target: String
        var issued: Date
    }

    let lifetime: TimeInterval
    var open: [String: Issued] = [:]
    var prunedAt = Date.distantPast

    init(lifetime: TimeInterval) { self.lifetime = lifetime }

    /// A fresh 32-byte nonce (hex) for `reporter` → `target`.
    mutating func issue(reporter: String, target: String, now: Date) -> String {
        // Expired nonces are dropped once a second, not on every issue (thousands are open under load).
        if now.timeIntervalSince(prunedAt) >= 1 {
            open = open.filter { now.timeIntervalSince($0.value.issued) < lifetime }
            prunedAt = now
        }
        let hex = Self.fresh()
        open[hex] = Issued(reporter: reporter, target: target, issued: now)
        return hex
    }

    /// Spends a nonce a report carries: it must have been issued for this pair and not have expired.
    mutating func spend(_ hex: String, reporter: String, target: String, now: Date) throws(RegionError) -> [UInt8] {
        let found: NonceSpend
        if let issued = open[hex], now.timeIntervalSince(issued.issued) < lifetime {
            found = issued.reporter == reporter && issued.target == target ? .spent : .issuedFor(reporter: issued.reporter, target: issued.target)
        } else {
            found = .unknown
        }
        if found == .spent { open[hex] = nil }
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
    static func direct() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<4).flatMap { _ in withUnsafeBytes(of: rng.next() as UInt64) { Array($0) } }
    }
}

/// What spending a nonce found: it was open for this pair and is spent now; it is unknown (never issued, spent
/// already, or expired); or it is open for another pair (and stays open).
package enum NonceSpend: Sendable, Equatable {
    case spent
    case unknown
    case issuedFor(reporter: String, target: String)
}
