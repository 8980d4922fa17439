import Foundation
import GRDB
import RegionTCB
import Testing

/// The group commit's transaction (``GroupTransaction``): its BEGIN and COMMIT are statements prepared once, so what
/// GRDB's transaction block guarded is its own to guard. Each test runs on a database of its own in a temporary
/// directory and reads it back through the same connection once the transaction is over.
@Suite("IVT group transaction")
struct GroupTransactionTests {
    static func database() throws -> (DatabaseQueue, String) {
        let dir = NSTemporaryDirectory() + "group-transaction-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: dir + "/t.sqlite")
        try queue.write { try $0.execute(sql: "CREATE TABLE t (v INTEGER NOT NULL)") }
        return (queue, dir)
    }

    static func values(_ queue: DatabaseQueue) throws -> [Int] {
        try queue.read { try Int.fetchAll($0, sql: "SELECT v FROM t ORDER BY v") }
    }

    @Test func whatTheBodyWritesIsCommittedTogether() throws {
        let (queue, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for round in 0..<3 {
            let n = try queue.writeWithoutTransaction { db in
                try GroupTransaction(db).run {
                    try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: [2 * round])
                    try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: [2 * round + 1])
                    return db.isInsideTransaction
                }
            }
            #expect(n, "the body ran inside the transaction")
        }
        #expect(try Self.values(queue) == [0, 1, 2, 3, 4, 5])
        #expect(try queue.writeWithoutTransaction { !$0.isInsideTransaction })
    }

    @Test func aBodyThatThrowsWritesNothing() throws {
        struct Refused: Error {}
        let (queue, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: Refused.self) {
            try queue.writeWithoutTransaction { db in
                try GroupTransaction(db).run {
                    try db.execute(sql: "INSERT INTO t VALUES (1)")
                    throw Refused()
                }
            }
        }
        #expect(try Self.values(queue) == [])
        // The connection is left outside any transaction, and the next group commits.
        try queue.writeWithoutTransaction { db in
            #expect(!db.isInsideTransaction)
            try GroupTransaction(db).run { try db.execute(sql: "INSERT INTO t VALUES (2)") }
        }
        #expect(try Self.values(queue) == [2])
    }

    /// SQLite rolls a transaction back by itself on some errors (a full disk, an I/O error); a ROLLBACK stands in for
    /// that here. What was written before it is gone, and the group fails instead of committing what came after.
    @Test func aTransactionRolledBackUnderneathFailsTheGroup() throws {
        let (queue, dir) = try Self.database()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: RegionError.self) {
            try queue.writeWithoutTransaction { db in
                try GroupTransaction(db).run {
                    try db.execute(sql: "INSERT INTO t VALUES (1)")
                    try db.execute(sql: "ROLLBACK")
                    // What the group commit checks before each verdict and before it commits.
                    try GroupTransaction.stillOpen(db)
                    try db.execute(sql: "INSERT INTO t VALUES (2)")
                }
            }
        }
        #expect(try Self.values(queue) == [])
        do {
            try queue.writeWithoutTransaction { db in
                try GroupTransaction(db).run {
                    try db.execute(sql: "INSERT INTO t VALUES (3)")
                    try db.execute(sql: "ROLLBACK")
                }
            }
            Issue.record("a group whose transaction was rolled back underneath was reported committed")
        } catch let e as RegionError {
            #expect(e.code == .storeFailed)
        }
        #expect(try Self.values(queue) == [])
    }
}
