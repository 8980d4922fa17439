package import Foundation
import PostgresNIO
package import RegionTCB

/// A ring nonce as a reporter was given it, or presents it.
struct NonceRecord: Sendable {
    var hex: String
    var reporter: String
    var target: String
    /// When it expires (recording), or the time it is presented at (spending).
    var at: Date
    /// The caller's time (recording: expired nonces are pruned as of the earliest of a statement's).
    var now: Date
}

/// The ring's nonces in `ring_nonce`, so they outlive the leader that issued them: the next leader spends a nonce
/// the old one gave a reporter, once. Both are leader writes, fenced by its lease like every other; each is one
/// statement that carries its fence (``fencedStatement(_:)``), and the nonces recorded (or spent) at about the same
/// time share one (``PostgresBatch``, one statement per batch: one nonce of a value per batch, so two spends of one
/// nonce are two statements, and the second finds it gone).
extension PostgresRegionStore {
    package func recordNonce(_ hex: String, reporter: String, target: String, expires: Date, now: Date) async throws(RegionError) {
        try await nonceRecords.submit(NonceRecord(hex: hex, reporter: reporter, target: target, at: expires, now: now)) {
            records throws(RegionError) in
            // The expired nonces pruned and the new ones added in one statement, both only if the fence allows.
            let oldest = records.map(\.now).min() ?? now
            _ = try await self.fencedStatement("""
                WITH \(leaseOf: self.region, fencedBy: self.fence),
                pruned AS (DELETE FROM ring_nonce WHERE region = \(self.region) AND expires_at <= \(oldest.timeIntervalSince1970)
                           AND EXISTS (SELECT 1 FROM allowed)),
                added AS (INSERT INTO ring_nonce (region, nonce, reporter, target, expires_at)
                          SELECT \(self.region), x.nonce, x.reporter, x.target, x.expires FROM allowed,
                              unnest(\(records.map(\.hex))::text[], \(records.map(\.reporter))::text[], \(records.map(\.target))::text[],
                                     \(records.map(\.at.timeIntervalSince1970))::double precision[]) AS x(nonce, reporter, target, expires))
                SELECT holder, epoch, live FROM lease
                """)
            return records.map { _ in .success(()) }
        }
    }

    package func spendNonce(_ hex: String, reporter: String, target: String, now: Date) async throws(RegionError) -> NonceSpend {
        let spent = try await nonceSpends.submit(NonceRecord(hex: hex, reporter: reporter, target: target, at: now, now: now)) {
            spends throws(RegionError) in
            // One DELETE: of two RC-TCBs (or two reports) spending the same nonce, one deletes it; the other's DELETE
            // waits for the first to commit and then finds no row.
            let row = try await self.fencedStatement("""
                WITH \(leaseOf: self.region, fencedBy: self.fence),
                spent AS (DELETE FROM ring_nonce n
                          USING unnest(\(spends.map(\.hex))::text[], \(spends.map(\.reporter))::text[], \(spends.map(\.target))::text[],
                                       \(spends.map(\.at.timeIntervalSince1970))::double precision[]) AS x(nonce, reporter, target, at)
                          WHERE n.region = \(self.region) AND n.nonce = x.nonce AND n.reporter = x.reporter AND n.target = x.target
                              AND n.expires_at > x.at AND EXISTS (SELECT 1 FROM allowed)
                          RETURNING n.nonce)
                SELECT holder, epoch, live, ARRAY(SELECT nonce FROM spent) FROM lease
                """)
            let gone: Set<String>
            do { gone = Set(try row[3].decode([String].self)) } catch { throw self.coded(error) }
            return spends.map { .success(gone.contains($0.hex)) }
        }
        if spent { return .spent }
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
