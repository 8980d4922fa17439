package import Foundation
import PostgresNIO
package import RegionTCB

/// The ring's nonces in `ring_nonce`, so they outlive the leader that issued them: the next leader spends a nonce
/// the old one gave a reporter, once. Both are leader writes, fenced by its lease like every other.
extension PostgresRegionStore {
    package func recordNonce(_ hex: String, reporter: String, target: String, expires: Date, now: Date) async throws(RegionError) {
        try await transaction { c in
            try await c.query("DELETE FROM ring_nonce WHERE region = \(self.region) AND expires_at <= \(now.timeIntervalSince1970)", logger: self.logger)
            try await c.query("""
                INSERT INTO ring_nonce (region, nonce, reporter, target, expires_at)
                VALUES (\(self.region), \(hex), \(reporter), \(target), \(expires.timeIntervalSince1970))
                """, logger: self.logger)
        }
    }

    package func spendNonce(_ hex: String, reporter: String, target: String, now: Date) async throws(RegionError) -> NonceSpend {
        try await transaction { c in
            // One statement: of two RC-TCBs (or two reports) spending the same nonce, one deletes it.
            let spent = try await c.query("""
                DELETE FROM ring_nonce WHERE region = \(self.region) AND nonce = \(hex) AND reporter = \(reporter) AND target = \(target)
                    AND expires_at > \(now.timeIntervalSince1970)
                RETURNING nonce
                """, logger: self.logger)
            if try await Self.first(spent) != nil { return .spent }
            let other = try await c.query("""
                SELECT reporter, target FROM ring_nonce WHERE region = \(self.region) AND nonce = \(hex) AND expires_at > \(now.timeIntervalSince1970)
                """, logger: self.logger)
            guard let r = try await Self.first(other) else { return .unknown }
            let (issuedReporter, issuedTarget) = try r.decode((String, String).self)
            return .issuedFor(reporter: issuedReporter, target: issuedTarget)
        }
    }
}
