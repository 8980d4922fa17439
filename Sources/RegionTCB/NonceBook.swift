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
        let hex = Hex.encode(Self.direct())
        open[hex] = Issued(reporter: reporter, target: target, issued: now)
        return hex
    }

    /// Spends a nonce a report carries: it must have been issued for this pair and not have expired.
    mutating func spend(_ hex: String, reporter: String, target: String, now: Date) throws(RegionError) -> [UInt8] {
        guard let issued = open[hex], now.timeIntervalSince(issued.issued) < lifetime else {
            throw RegionError(.nonceUnknown, "nonce \(hex.prefix(16))… was not issued by this RC-TCB, is spent or expired")
        }
        guard issued.reporter == reporter, issued.target == target else {
            throw RegionError(.notAssigned, "the nonce was issued for \(issued.reporter) → \(issued.target), not \(reporter) → \(target)")
        }
        open[hex] = nil
        guard let bytes = Hex.decode(hex) else { throw RegionError(.malformedReport, "the nonce is not hex") }
        return bytes
    }

    /// 32 random bytes: the nonces the book issues, and the RC-TCB's own challenges (never open to a reporter).
    static func direct() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<4).flatMap { _ in withUnsafeBytes(of: rng.next() as UInt64) { Array($0) } }
    }
}
