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
/// Both are compared at the start of every group's transaction, under its write lock; any difference, or a
/// transaction that did not commit, forgets every row. A verdict rolled back alone (its savepoint) forgets its host's.
final class WrittenRows {
    private var rows: [String: (IVTRow, RecentEvidencePlace)] = [:]
    /// What the database showed when the last transaction of the group commit ended (nil: nothing held).
    private var mark: (dataVersion: Int64, changes: Int)?
    private var staged: (host: String, row: (IVTRow, RecentEvidencePlace)?)?

    /// At the start of a group's transaction: keeps the rows only if nothing else wrote since the last group.
    func begin(_ db: Database) throws {
        let version = try Self.dataVersion(db)
        if let mark, mark.dataVersion == version, mark.changes == db.totalChangesCount { return }
        rows.removeAll(keepingCapacity: true)
    }

    /// After the group's transaction committed: what the database shows now, to compare at the next one (when it
    /// cannot be read, nothing is held).
    func committed(_ db: Database) {
        guard let version = try? Self.dataVersion(db) else { return forget() }
        mark = (version, db.totalChangesCount)
    }

    /// The transaction did not commit: nothing written in it may be held.
    func forget() {
        rows.removeAll(keepingCapacity: true)
        mark = nil
        staged = nil
    }

    func row(_ host: String) -> (IVTRow, RecentEvidencePlace)? { rows[host] }

    /// The row a verdict wrote, held once its savepoint is released (``settle(_:)``); nil: read the host from the table.
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
