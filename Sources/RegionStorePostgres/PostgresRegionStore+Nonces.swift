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
            _ = try await self.fencedStatement(RecordNonces(fence: self.fenceParameters, records: records,
                                                            oldest: records.map(\.now).min() ?? now))
            return records.map { _ in .success(()) }
        }
    }

    package func spendNonce(_ hex: String, reporter: String, target: String, now: Date) async throws(RegionError) -> NonceSpend {
        let spent = try await nonceSpends.submit(NonceRecord(hex: hex, reporter: reporter, target: target, at: now, now: now)) {
            spends throws(RegionError) in
            let row = try await self.fencedStatement(SpendNonces(fence: self.fenceParameters, spends: spends))
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

/// Records a batch of nonces: the expired nonces pruned, each reporter's oldest of a kind past the bound dropped and
/// the new ones added, in one statement and only if the fence allows. The statement's parts see the table as it was
/// before it: the newest `bound - 1` of each kind are kept beside the new ones. Expired nonces are pruned as of the
/// earliest caller's time in the batch.
///
/// The nonces dropped are found from the batch's reporters (each one's of a kind, newest first, past the first
/// `bound - 1`, on the `(region, reporter, carried, expires_at)` index) and deleted by their key: PostgreSQL planned
/// the same rule written as `NOT IN` the newest as a scan of the whole table (every reporter's nonces: sixteen of each
/// kind per host, 33,000 rows at 1,000 hosts, about 9 ms a statement).
struct RecordNonces: PostgresRowStatement {
    static let name = "smig_RecordNonces"
    static let sql = """
        WITH \(FenceParameters.commonTableExpressions),
        pruned AS (DELETE FROM ring_nonce WHERE region = $1 AND expires_at <= $5 AND EXISTS (SELECT 1 FROM allowed)),
        dropped AS (DELETE FROM ring_nonce n
                    USING (SELECT DISTINCT h.reporter, h.carried FROM unnest($7::text[], $10::boolean[]) AS h(reporter, carried)) h,
                          LATERAL (SELECT m.nonce FROM ring_nonce m
                                   WHERE m.region = $1 AND m.reporter = h.reporter AND m.carried = h.carried
                                   ORDER BY m.expires_at DESC OFFSET $11) older
                    WHERE n.region = $1 AND n.nonce = older.nonce AND EXISTS (SELECT 1 FROM allowed)),
        added AS (INSERT INTO ring_nonce (region, nonce, reporter, target, expires_at, carried)
                  SELECT $1, x.nonce, x.reporter, x.target, x.expires, x.carried FROM allowed,
                      unnest($6::text[], $7::text[], $8::text[], $9::double precision[], $10::boolean[])
                          AS x(nonce, reporter, target, expires, carried))
        SELECT \(FenceParameters.leaseColumns) FROM \(FenceParameters.leaseRow)
        """
    static let bindingDataTypes = FenceParameters.types + [.float8, .textArray, .textArray, .textArray, .float8Array, .boolArray, .int8]

    var fence: FenceParameters
    var records: [NonceRecord]
    var oldest: Date

    func makeBindings() throws -> PostgresBindings {
        var b = fence.bindings
        b.append(oldest.timeIntervalSince1970, records.map(\.hex), records.map(\.reporter), records.map(\.target),
                 records.map(\.at.timeIntervalSince1970), records.map(\.carried), Int64(NonceBook.openPerReporter - 1))
        return b
    }
}

/// Spends a batch of nonces: one DELETE, so of two RC-TCBs (or two reports) spending the same nonce one deletes it and
/// the other's DELETE waits for the first to commit and then finds no row. Its fourth column is the nonces spent.
struct SpendNonces: PostgresRowStatement {
    static let name = "smig_SpendNonces"
    static let sql = """
        WITH \(FenceParameters.commonTableExpressions),
        spent AS (DELETE FROM ring_nonce n
                  USING unnest($5::text[], $6::text[], $7::text[], $8::double precision[]) AS x(nonce, reporter, target, at)
                  WHERE n.region = $1 AND n.nonce = x.nonce AND n.reporter = x.reporter AND n.target = x.target
                      AND n.expires_at > x.at AND EXISTS (SELECT 1 FROM allowed)
                  RETURNING n.nonce)
        SELECT \(FenceParameters.leaseColumns), ARRAY(SELECT nonce FROM spent) FROM \(FenceParameters.leaseRow)
        """
    static let bindingDataTypes = FenceParameters.types + [.textArray, .textArray, .textArray, .float8Array]

    var fence: FenceParameters
    var spends: [NonceRecord]

    func makeBindings() throws -> PostgresBindings {
        var b = fence.bindings
        b.append(spends.map(\.hex), spends.map(\.reporter), spends.map(\.target), spends.map(\.at.timeIntervalSince1970))
        return b
    }
}
