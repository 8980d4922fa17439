import Dispatch
package import Foundation
package import GRDB
import Synchronization

/// Group commit of the IVT's verdicts (SQLite). The RC-TCB's transitions (``RegionStore/transition(_:host:judgedUnder:judged:now:)``
/// on an ``IVTStore``) that arrive while a transaction of verdicts is being written wait for it, and are written
/// together in the next one: one commit (and one flush of the WAL) for many verdicts instead of one each. The
/// transactions are written on a thread of their own, so a commit's flush holds none of Swift's cooperative threads.
///
/// Each verdict is applied as on its own — ``HostTransition`` on the row read in the transaction, the row and its
/// audit event, the evidence kept — inside a savepoint of its own: a verdict that fails (a row that does not decode)
/// is rolled back alone and its caller gets its error, while the group's other verdicts commit. Every caller is
/// answered only after the transaction that holds its verdict has committed (its row survives a crash of the
/// process; the WAL reaches the disk at every commit only with ``IVTStore/init(path:flushEveryCommit:)``'s flag,
/// otherwise at checkpoints); a transaction that does not commit fails every answer in it, and nothing of it is
/// written.
package final class IVTGroupCommit: Sendable {
    /// At most this many verdicts in one transaction (a bound on how long one commit holds the writer).
    package static let maxGroup = 128

    struct Pending: Sendable {
        var verdict: HostVerdict
        var host: String
        var policyDigest: String?
        var judged: JudgedEvidence?
        var now: Date
        var answer: CheckedContinuation<IVTStore.Applied?, any Error>
    }

    private let state = Mutex<(pending: [Pending], writing: Bool)>(([], false))
    private let queue = DispatchQueue(label: "smig.ivt.group-commit")
    private let hook = Mutex<(@Sendable (Int) throws -> Void)?>(nil)
    /// Used only by ``drain(_:)``, which runs on `queue` alone (a serial queue): never touched by two threads at once.
    private nonisolated(unsafe) let written = WrittenRows()

    init() {}

    /// TESTS ONLY: `hook` runs inside each group's transaction after its verdicts are applied and before it commits,
    /// with how many verdicts the group holds; a throw rolls the transaction back as a failed commit would.
    package func setBeforeCommit(_ hook: (@Sendable (Int) throws -> Void)?) {
        self.hook.withLock { $0 = hook }
    }

    /// How many verdicts wait for the next group's transaction.
    package var waiting: Int { state.withLock { $0.pending.count } }

    /// TESTS ONLY: how many host rows the writer holds between its transactions (read on the writer's queue).
    package var heldRows: Int { queue.sync { written.count } }

    /// Applies a verdict in the next group's transaction and answers once that transaction has committed.
    nonisolated(nonsending) func submit(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String?,
                                        judged: JudgedEvidence?, now: Date, to store: IVTStore) async throws(RegionError) -> IVTStore.Applied? {
        do {
            return try await withCheckedThrowingContinuation { answer in
                let start = state.withLock { s in
                    s.pending.append(Pending(verdict: verdict, host: host, policyDigest: policyDigest, judged: judged, now: now, answer: answer))
                    if s.writing { return false }
                    s.writing = true
                    return true
                }
                if start { queue.async { self.drain(store) } }
            }
        } catch {
            throw store.coded(error, as: .storeFailed)
        }
    }

    /// Writes groups until none is waiting.
    private func drain(_ store: IVTStore) {
        while true {
            let group: [Pending] = state.withLock { s in
                guard !s.pending.isEmpty else {
                    s.writing = false
                    return []
                }
                // All that waits when it fits (taken, not copied), else the oldest `maxGroup`.
                guard s.pending.count > Self.maxGroup else {
                    var all: [Pending] = []
                    swap(&all, &s.pending)
                    return all
                }
                defer { s.pending.removeFirst(Self.maxGroup) }
                return Array(s.pending.prefix(Self.maxGroup))
            }
            if group.isEmpty { return }
            write(group, store)
        }
    }

    /// One transaction for `group`; the answers after it committed (or all failed when it did not).
    private func write(_ group: [Pending], _ store: IVTStore) {
        let hook = self.hook.withLock { $0 }
        let results: [Result<IVTStore.Applied?, RegionError>]
        do {
            results = try store.pool.writeWithoutTransaction { db in
                let results = try GroupTransaction(db).run {
                    try written.begin(db)
                    var results: [Result<IVTStore.Applied?, RegionError>] = []
                    results.reserveCapacity(group.count)
                    let savepoint = try VerdictSavepoint(db)
                    let numbering = EvidenceNumbering()
                    for p in group {
                        try GroupTransaction.stillOpen(db)
                        do {
                            let applied = try savepoint.run {
                                try IVTStore.transition(db, p.verdict, host: p.host, judgedUnder: p.policyDigest, keeping: p.judged,
                                                        numbering: numbering, rows: written, now: p.now)
                            }
                            written.settle(p.host, kept: true)
                            results.append(.success(applied))
                        } catch {
                            written.settle(p.host, kept: false)
                            results.append(.failure(store.coded(error, as: .storeFailed)))
                        }
                    }
                    try GroupTransaction.stillOpen(db)
                    try numbering.save(db)
                    try hook?(group.count)
                    try written.sealed(db)
                    return results
                }
                written.committed()
                return results
            }
        } catch {
            written.forget()
            let failure = RegionError(.storeFailed, "IVT database \(store.path): a transaction of \(group.count) verdicts did not commit, none was written: \(error)")
            for p in group { p.answer.resume(throwing: failure) }
            return
        }
        for (p, result) in zip(group, results) { p.answer.resume(with: result.mapError { $0 as any Error }) }
    }
}

extension IVTStore {
    /// The RC-TCB's transitions, through ``RegionStore``: group-committed (``IVTGroupCommit``), answered once
    /// committed. A synchronous call (fixtures, tools) writes a transaction of its own. On the caller's executor, as
    /// the protocol's requirement is: the writer's answer resumes the caller (the region's actor) directly, not a
    /// task of the global pool that then hops to the actor.
    package nonisolated(nonsending) func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String?,
                                                    judged: JudgedEvidence?, now: Date) async throws(RegionError) -> Applied? {
        try await groupCommit.submit(verdict, host: host, judgedUnder: policyDigest, judged: judged, now: now, to: self)
    }

    /// An error of the database as the store's coded error (a ``RegionError`` stays as it is).
    func coded(_ error: any Error, as code: RegionError.Code) -> RegionError {
        if let e = error as? RegionError { return e }
        return RegionError(code, "IVT database \(path): \(error)")
    }
}

/// A group's transaction by two statements prepared once per connection (`BEGIN IMMEDIATE`, `COMMIT`): GRDB's
/// `write` prepares its `BEGIN` and `COMMIT` again for every transaction, which cost as much as a verdict's own
/// statements. IMMEDIATE, as GRDB's writes: the write lock is taken at the start, never upgraded from a read.
///
/// What GRDB's transaction block also guarded is checked here: an error that makes SQLite roll the whole
/// transaction back (a full disk, an I/O error) would leave the statements after it each in a transaction of its
/// own (outside a transaction, SAVEPOINT starts one and RELEASE commits it), so before every verdict and before the
/// commit the transaction must still be open, or the group fails whole. Any failure rolls back what is left of the transaction.
package struct GroupTransaction {
    let db: Database
    let begin: Statement
    let commit: Statement

    package init(_ db: Database) throws {
        self.db = db
        begin = try db.cachedStatement(sql: "BEGIN IMMEDIATE TRANSACTION")
        commit = try db.cachedStatement(sql: "COMMIT TRANSACTION")
    }

    package func run<T>(_ body: () throws -> T) throws -> T {
        try begin.execute()
        do {
            let value = try body()
            try Self.stillOpen(db)
            try commit.execute()
            return value
        } catch {
            try? db.rollback()
            throw error
        }
    }

    /// Throws when SQLite has rolled the transaction back on its own.
    package static func stillOpen(_ db: Database) throws {
        guard db.isInsideTransaction else {
            throw RegionError(.storeFailed, "the transaction was rolled back by the database (an earlier statement failed)")
        }
    }
}

/// One verdict's savepoint inside a group's transaction, by three statements prepared once per group (GRDB's
/// `inSavepoint` prepares its `SAVEPOINT` and `RELEASE` again for every call). A verdict that throws is rolled back
/// to its savepoint alone; the transaction goes on with the next one.
struct VerdictSavepoint {
    let begin: Statement
    let release: Statement
    let rollback: Statement

    init(_ db: Database) throws {
        begin = try db.cachedStatement(sql: "SAVEPOINT verdict")
        release = try db.cachedStatement(sql: "RELEASE SAVEPOINT verdict")
        rollback = try db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT verdict")
    }

    func run<T>(_ body: () throws -> T) throws -> T {
        try begin.execute()
        let value: T
        do { value = try body() } catch {
            // ROLLBACK TO leaves the savepoint open: it is released too, so the next verdict starts from the same depth.
            try rollback.execute()
            try release.execute()
            throw error
        }
        try release.execute()
        return value
    }
}
