import PostgresNIO
import RegionTCB

/// A leader write of one statement that carries its own fence, so it needs no transaction around it: the statement
/// is a transaction of its own (autocommit), one round trip where BEGIN, the lease check (``LeaderLease/check(on:logger:)``),
/// the write and COMMIT were four.
///
/// The statement starts `WITH` the two common table expressions of ``PostgresQuery/StringInterpolation/appendInterpolation(leaseOf:fencedBy:)``:
/// `lease`, the region's lease row read `FOR SHARE`, and `allowed`, one row when that row is this store's lease
/// (holder and epoch) and unexpired, none otherwise. Every write of the statement takes its rows from `allowed`
/// (`INSERT … SELECT … FROM allowed`, `DELETE … WHERE … AND EXISTS (SELECT 1 FROM allowed)`), and the statement
/// ends `SELECT holder, epoch, live, … FROM lease`, which ``PostgresRegionStore/fencedStatement(_:)`` checks with
/// ``LeaderLease/verify(_:)``: a refused statement is `store.fenced` with the same message as the check's, and wrote
/// nothing.
///
/// The guarantee is the check's, for the same three reasons:
/// - the check and the write are one transaction, which commits or rolls back whole, and the write changes a row
///   only if `allowed` has one, that is, only if the lease row read is this lease, unexpired (`now()` is the
///   transaction's start, as in the check);
/// - the share lock on the lease row is taken when `lease` reads it, before any write of the statement can happen
///   (they need `allowed`'s row), and held until the transaction ends: a takeover or a renewal updates that row and
///   so waits for the write to commit, and a write that passed commits before a new epoch does;
/// - a takeover that committed before the lock was taken is seen: a locking read under READ COMMITTED returns the
///   row's newest committed version (re-checked against its `WHERE`), so a stale leader reads the new holder and
///   epoch and writes nothing.
///
/// A store without a fence (not leading through ``PostgresRegionStore/leading(_:)``) gets a `lease` of one row of
/// nulls and an `allowed` of one row: its statements write as before, and take no lock on the lease row.
extension PostgresRegionStore {
    /// Runs `statement` — which begins with the fence's CTEs and ends `SELECT holder, epoch, live, … FROM lease` —
    /// as a transaction of its own, and returns its row once the fence let it write; `store.fenced` otherwise.
    func fencedStatement(_ statement: PostgresQuery) async throws(RegionError) -> PostgresRandomAccessRow {
        let fence = fence
        let row = try await run {
            try await Self.first(try await self.client.query(statement, logger: self.logger)).map { $0.makeRandomAccess() }
        }
        if let fence {
            let found: (holder: String, epoch: Int64, live: Bool)?
            do {
                found = try row.map { r in (try r[0].decode(String.self), try r[1].decode(Int64.self), try r[2].decode(Bool.self)) }
            } catch {
                throw RegionError(.storeFailed, "store \(url): the lease row of region \(region) does not decode: \(error)")
            }
            try fence.verify(found)
        }
        guard let row else { throw RegionError(.storeFailed, "store \(url): a fenced statement returned no row") }
        return row
    }
}

extension PostgresQuery.StringInterpolation {
    /// The fence's two common table expressions (`lease`, `allowed`; see ``PostgresRegionStore/fencedStatement(_:)``)
    /// for `region` and `fence` (nil: not fenced), to follow `WITH`.
    mutating func appendInterpolation(leaseOf region: String, fencedBy fence: LeaderLease?) {
        guard let fence else {
            appendLiteral("lease AS (SELECT NULL::text AS holder, NULL::bigint AS epoch, NULL::boolean AS live), allowed AS (SELECT 1)")
            return
        }
        appendLiteral("lease AS MATERIALIZED (SELECT holder, epoch, expires_at > now() AS live FROM leader_lease WHERE region = ")
        appendInterpolation(region)
        appendLiteral(" FOR SHARE), allowed AS MATERIALIZED (SELECT 1 FROM lease WHERE holder = ")
        appendInterpolation(fence.holder)
        appendLiteral(" AND epoch = ")
        appendInterpolation(fence.epoch)
        appendLiteral(" AND live)")
    }
}
