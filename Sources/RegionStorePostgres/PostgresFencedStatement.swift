import PostgresNIO
import RegionTCB

/// A leader write of one statement that carries its own fence, so it needs no transaction around it: the statement
/// is a transaction of its own (autocommit), one round trip where BEGIN, the lease check (``LeaderLease/check(on:logger:)``),
/// the write and COMMIT were four.
///
/// The statement is prepared once per connection (``PostgresRowStatement``): one text for a fenced and an unfenced
/// store, whose first four parameters are the fence's (``FenceParameters``). It starts `WITH` the two common table
/// expressions of ``FenceParameters/commonTableExpressions``: `lease`, the region's lease row read `FOR SHARE` when
/// the store is fenced (no row, and no lock, when it is not), and `allowed`, one row when the store is not fenced or
/// that row is this store's lease (holder and epoch) and unexpired, none otherwise. Every write of the statement takes
/// its rows from `allowed` (`INSERT … SELECT … FROM allowed`, `DELETE … WHERE … AND EXISTS (SELECT 1 FROM allowed)`),
/// and the statement ends `SELECT` ``FenceParameters/leaseColumns``, … `FROM` ``FenceParameters/leaseRow``: one row,
/// which ``PostgresRegionStore/fencedStatement(_:)`` checks with ``LeaderLease/verify(_:)`` when the store is
/// fenced: a refused statement is `store.fenced` with the same message as the check's, and wrote nothing.
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
/// The lease's holder and epoch are parameters, not part of the text: one prepared statement serves every lease the
/// store holds, and checks the one it holds when the statement runs.
extension PostgresRegionStore {
    /// Runs `statement` — which begins with the fence's CTEs and ends `SELECT` the lease's columns, … — as a
    /// transaction of its own, and returns its row once the fence let it write; `store.fenced` otherwise.
    func fencedStatement<S: PostgresRowStatement>(_ statement: S) async throws(RegionError) -> PostgresRandomAccessRow {
        let fence = fence
        let row = try await run {
            try await Self.first(try await self.client.execute(statement, logger: self.logger)).map { $0.makeRandomAccess() }
        }
        guard let row else { throw RegionError(.storeFailed, "store \(url): a fenced statement returned no row") }
        if let fence {
            let found: (holder: String, epoch: Int64, live: Bool)?
            do {
                let (holder, epoch, live) = (try row[0].decode(String?.self), try row[1].decode(Int64?.self), try row[2].decode(Bool?.self))
                if let holder, let epoch, let live { found = (holder, epoch, live) } else { found = nil }
            } catch {
                throw RegionError(.storeFailed, "store \(url): the lease row of region \(region) does not decode: \(error)")
            }
            try fence.verify(found)
        }
        return row
    }

    /// The fence's parameters for a statement of this store.
    var fenceParameters: FenceParameters { FenceParameters(region: region, fence: fence) }
}

/// The first four parameters of a statement that carries the fence: `$1` the region, `$2` the lease's holder, `$3`
/// its epoch, `$4` whether the store is fenced at all (without a fence, `$2` and `$3` are bound but not read).
struct FenceParameters: Sendable {
    var region: String
    var fence: LeaderLease?

    /// Their types, in order: the start of a statement's ``PostgresPreparedStatement/bindingDataTypes``.
    static let types: [PostgresDataType] = [.text, .text, .int8, .bool]

    /// `lease` and `allowed`, to follow `WITH`.
    static let commonTableExpressions = """
        lease AS MATERIALIZED (SELECT holder, epoch, expires_at > now() AS live FROM leader_lease WHERE $4 AND region = $1 FOR SHARE), \
        allowed AS MATERIALIZED (SELECT 1 WHERE NOT $4 UNION ALL SELECT 1 FROM lease WHERE holder = $2 AND epoch = $3 AND live)
        """
    /// The lease row's columns, first in the statement's select list: nulls when the store is not fenced or the region
    /// has no lease.
    static let leaseColumns = "l.holder, l.epoch, l.live"
    /// What the final `SELECT` reads from: exactly one row, the lease's or nulls.
    static let leaseRow = "(SELECT 1) AS one LEFT JOIN lease l ON true"

    /// Bindings that begin with these four; the statement appends its own.
    var bindings: PostgresBindings { PostgresBindings(region, fence?.holder ?? "", fence?.epoch ?? 0, fence != nil) }
}

/// A statement prepared once per connection of the pool (PostgreSQL parses and analyses it once; it still plans every
/// run, ``PostgresStoreLimits/startupParameters`` says why) and answered with its rows as they are: postgres-nio
/// prepares it under its name on a connection the first time that connection runs it.
///
/// Each statement spells its name out (`smig_` and the type's name): postgres-nio's default, `String(reflecting:)` of
/// the type, is computed again at every run.
protocol PostgresRowStatement: PostgresPreparedStatement where Row == PostgresRow {}

extension PostgresRowStatement {
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

extension PostgresBindings {
    /// `values` bound in order (`$1`, `$2`, …).
    init<each Value: PostgresDynamicTypeEncodable>(_ values: repeat each Value) {
        self.init()
        append(repeat each values)
    }

    /// `values` bound after those already here, in order.
    mutating func append<each Value: PostgresDynamicTypeEncodable>(_ values: repeat each Value) {
        repeat append(each values)
    }
}
