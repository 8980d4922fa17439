package import Foundation
import PostgresNIO
package import RegionTCB

/// The ring's nonces in `ring_nonce`, so they outlive the leader that issued them: the next leader spends a nonce
/// the old one gave a reporter, once. Both are leader writes, fenced by its lease like every other; each is one
/// statement that carries its fence (``fencedStatement(_:)``), one round trip per nonce issued and per nonce spent.
extension PostgresRegionStore {
    package func recordNonce(_ hex: String, reporter: String, target: String, expires: Date, now: Date) async throws(RegionError) {
        // The expired nonces pruned and the new one added in one statement, both only if the fence allows.
        _ = try await fencedStatement("""
            WITH \(leaseOf: region, fencedBy: fence),
            pruned AS (DELETE FROM ring_nonce WHERE region = \(region) AND expires_at <= \(now.timeIntervalSince1970) AND EXISTS (SELECT 1 FROM allowed)),
            added AS (INSERT INTO ring_nonce (region, nonce, reporter, target, expires_at)
                      SELECT \(region), \(hex), \(reporter), \(target), \(expires.timeIntervalSince1970)::double precision FROM allowed)
            SELECT holder, epoch, live FROM lease
            """)
    }

    package func spendNonce(_ hex: String, reporter: String, target: String, now: Date) async throws(RegionError) -> NonceSpend {
        // One DELETE: of two RC-TCBs (or two reports) spending the same nonce, one deletes it; the other's DELETE
        // waits for the first to commit and then finds no row.
        let spent = try await fencedStatement("""
            WITH \(leaseOf: region, fencedBy: fence),
            spent AS (DELETE FROM ring_nonce WHERE region = \(region) AND nonce = \(hex) AND reporter = \(reporter) AND target = \(target)
                          AND expires_at > \(now.timeIntervalSince1970) AND EXISTS (SELECT 1 FROM allowed)
                      RETURNING nonce)
            SELECT holder, epoch, live, EXISTS (SELECT 1 FROM spent) FROM lease
            """)
        do {
            if try spent[3].decode(Bool.self) { return .spent }
        } catch { throw coded(error) }
        // A miss (rare: a replay, another pair's nonce, an expired one) only reads, so it needs no fence.
        return try await run {
            let other = try await self.client.query("""
                SELECT reporter, target FROM ring_nonce WHERE region = \(self.region) AND nonce = \(hex) AND expires_at > \(now.timeIntervalSince1970)
                """, logger: self.logger)
            guard let r = try await Self.first(other) else { return .unknown }
            let (issuedReporter, issuedTarget) = try r.decode((String, String).self)
            return .issuedFor(reporter: issuedReporter, target: issuedTarget)
        }
    }
}
