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
    /// Recording: a report's answer carries it (else the reporter asked for it).
    var carried = false
}

/// The ring's nonces in `ring_nonce`, so they outlive the leader that issued them: the next leader spends a nonce
/// the old one gave a reporter, once. A reporter keeps at most ``NonceBook/openPerReporter`` of each kind (asked
/// for, carried by an answer), as in the SQLite RC-TCB's own book. Both are leader writes, fenced by its lease like
/// every other; each is one statement that carries its fence (``fencedStatement(_:)``), and the nonces recorded (or
/// spent) at about the same time share one (``PostgresBatch``, one statement per batch: one nonce of a value per
/// batch, so two spends of one nonce are two statements, and the second finds it gone).
extension PostgresRegionStore {
    package func recordNonce(_ hex: String, reporter: String, target: String, expires: Date, now: Date, carried: Bool) async throws(RegionError) {
        try await nonceRecords.submit(NonceRecord(hex: hex, reporter: reporter, target: target, at: expires, now: now, carried: carried)) {
            records throws(RegionError) in
            // The expired nonces pruned, each reporter's oldest of a kind past the bound dropped and the new ones
            // added, in one statement and only if the fence allows. The statement's parts see the table as it was
            // before it: the newest `bound - 1` of each kind are kept beside the new ones.
            let oldest = records.map(\.now).min() ?? now
            let keep = NonceBook.openPerReporter - 1
            _ = try await self.fencedStatement("""
                WITH \(leaseOf: self.region, fencedBy: self.fence),
                pruned AS (DELETE FROM ring_nonce WHERE region = \(self.region) AND expires_at <= \(oldest.timeIntervalSince1970)
                           AND EXISTS (SELECT 1 FROM allowed)),
                dropped AS (DELETE FROM ring_nonce n
                            USING (SELECT DISTINCT h.reporter, h.carried FROM unnest(\(records.map(\.reporter))::text[],
                                       \(records.map(\.carried))::boolean[]) AS h(reporter, carried)) h
                            WHERE n.region = \(self.region) AND n.reporter = h.reporter AND n.carried = h.carried
                                AND EXISTS (SELECT 1 FROM allowed)
                                AND n.nonce NOT IN (SELECT m.nonce FROM ring_nonce m
                                                    WHERE m.region = \(self.region) AND m.reporter = h.reporter AND m.carried = h.carried
                                                    ORDER BY m.expires_at DESC LIMIT \(keep))),
                added AS (INSERT INTO ring_nonce (region, nonce, reporter, target, expires_at, carried)
                          SELECT \(self.region), x.nonce, x.reporter, x.target, x.expires, x.carried FROM allowed,
                              unnest(\(records.map(\.hex))::text[], \(records.map(\.reporter))::text[], \(records.map(\.target))::text[],
                                     \(records.map(\.at.timeIntervalSince1970))::double precision[],
                                     \(records.map(\.carried))::boolean[]) AS x(nonce, reporter, target, expires, carried))
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
