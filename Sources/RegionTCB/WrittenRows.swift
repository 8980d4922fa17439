import GRDB

/// The host rows the IVT's group commit last wrote (each as ``IVTStore/stored(_:over:)`` gives it and its evidence
/// place), so that a host's next verdict is applied to its row without reading it again: in the steady state every
/// verdict of a host rewrites the row its previous verdict wrote.
///
/// Held only while nothing else has written the database since the group commit's last transaction:
/// - another connection's commit (an operator's revocation from another process, another RC-TCB tool) changes
///   SQLite's `PRAGMA data_version` on this connection;
/// - a write through this connection outside the group commit (enrolment, revocation through the store, the VM
///   placement) changes its count of changed rows (`sqlite3_total_changes`).
/// Both are taken at the end of every group's transaction and compared at the start of the next, each time under
/// the transaction's write lock; any difference, or a transaction that did not commit, forgets every row. A verdict
/// rolled back alone (its savepoint) forgets its host's.
final class WrittenRows {
    private var rows: [String: (IVTRow, RecentEvidencePlace)] = [:]
    /// What the database showed at the end of the group commit's last transaction (nil: nothing held).
    private var mark: (dataVersion: Int64, changes: Int)?
    /// The mark of the transaction being written, taken before its commit (``sealed(_:)``).
    private var sealing: (dataVersion: Int64, changes: Int)?
    private var staged: (host: String, row: (IVTRow, RecentEvidencePlace)?)?

    /// At the start of a group's transaction: keeps the rows only if nothing else wrote since the last group.
    func begin(_ db: Database) throws {
        let version = try Self.dataVersion(db)
        if let mark, mark.dataVersion == version, mark.changes == db.totalChangesCount { return }
        rows.removeAll(keepingCapacity: true)
    }

    /// The last step inside the group's transaction: what the database shows, to compare at the next one. Read
    /// under the transaction's write lock, which no other connection's commit can pass: read after the commit, a
    /// commit of another process in between would be taken for part of what these rows were read from.
    func sealed(_ db: Database) throws {
        sealing = (try Self.dataVersion(db), db.totalChangesCount)
    }

    /// The group's transaction committed (its own commit changes neither number): the rows are held until the next.
    func committed() {
        mark = sealing
        sealing = nil
        if mark == nil { rows.removeAll(keepingCapacity: true) }
    }

    /// The transaction did not commit: nothing written in it may be held.
    func forget() {
        rows.removeAll(keepingCapacity: true)
        mark = nil
        sealing = nil
        staged = nil
    }

    func row(_ host: String) -> (IVTRow, RecentEvidencePlace)? { rows[host] }

    /// The row a verdict wrote, held once its savepoint is released (``settle(_:kept:)``); nil: read the host from the
    /// table.
    func stage(_ host: String, _ row: (IVTRow, RecentEvidencePlace)?) { staged = (host, row) }

    /// The verdict of `host` ended: released (`kept`), its staged row is held; rolled back, its host is forgotten.
    func settle(_ host: String, kept: Bool) {
        if kept, let staged, staged.host == host, let row = staged.row { rows[host] = row } else { rows[host] = nil }
        staged = nil
    }

    /// TESTS ONLY: how many rows are held.
    var count: Int { rows.count }

    static func dataVersion(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? -1
    }
}
