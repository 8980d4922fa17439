import Foundation
import SmigTestSupport
import Testing

/// An inventory (SQLite) edited behind the tool's back: every command that reads the damaged row stops with
/// `inventory-corrupt` naming table, row and column, exit status 2, no trap, and the file untouched.
@Suite("Tampered VM inventory", .serialized)
struct TamperedInventoryTests {
    struct Tamper: Sendable, CustomTestStringConvertible {
        let sql: String
        let command: [String]
        let table: String
        let column: String
        var testDescription: String { "\(sql) → \(command.joined(separator: " "))" }
    }

    static let cases: [Tamper] = [
        .init(sql: "UPDATE vm SET updated_at = 'garbage'", command: ["vms"], table: "vm", column: "updated_at"),
        .init(sql: "UPDATE vm SET state = 'teleported'", command: ["vms"], table: "vm", column: "state"),
        .init(sql: "UPDATE vm SET description = '{\"name\": 1}'", command: ["vms"], table: "vm", column: "description"),
        .init(sql: "UPDATE host SET port_low = 'abc'", command: ["vm", "host", "list"], table: "host", column: "port_low"),
        .init(sql: "UPDATE host SET port_low = 'abc'", command: ["vm", "host", "add", "b", "--ports", "48000-48099"],
              table: "host", column: "port_low"),
        .init(sql: "UPDATE host SET kind = 'kvm'", command: ["vm", "host", "list"], table: "host", column: "kind"),
        .init(sql: "UPDATE host SET port_high = 99999999999", command: ["vm", "host", "list"], table: "host", column: "port_high"),
        .init(sql: "UPDATE migration SET step = 'halfway'", command: ["vms"], table: "migration", column: "step"),
        .init(sql: "UPDATE migration SET outcome = 'maybe'", command: ["vms"], table: "migration", column: "outcome"),
    ]

    /// A state directory with host `a`, VM `vm1` on it and an open migration of `vm1`, written by the real tool
    /// (host) and by sqlite3 (the VM and migration rows a QEMU run would have left).
    static func inventory() throws -> (dir: String, db: String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-inv-\(UUID().uuidString)").path
        let add = try Run.smig(["vm", "host", "add", "a", "--ports", "47000-47099", "--state-dir", dir])
        guard add.status == 0 else { throw CLIFixtureFailure(description: "vm host add: \(add.output)") }
        let db = dir + "/vms.sqlite"
        let description = #"{"name":"vm1","machineType":"pc","memoryMiB":64,"cpus":1,"bootImage":"/nonexistent.img"}"#
        try sqlite(db, """
            INSERT INTO vm (name, description, host, state, updated_at) VALUES ('vm1', '\(description)', 'a', 'migrating', 1700000000.5);
            INSERT INTO migration (vm, source, target, port, step, started_at, updated_at)
                VALUES ('vm1', 'a', 'a', 47001, 'planned', 1700000000.5, 1700000000.5);
            """)
        let list = try Run.smig(["vms", "--state-dir", dir])
        guard list.status == 0, list.output.contains("vm1") else { throw CLIFixtureFailure(description: "vms: \(list.output)") }
        return (dir, db)
    }

    static func sqlite(_ db: String, _ sql: String) throws {
        let r = try ToolRun.run("sqlite3", [db, sql])
        guard r.status == 0 else { throw CLIFixtureFailure(description: "sqlite3: \(r.output)") }
    }

    @Test(arguments: cases)
    func tamperedValueIsACodedError(_ tamper: Tamper) throws {
        let (dir, db) = try Self.inventory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Self.sqlite(db, tamper.sql)
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let r = try Run.smig(tamper.command + ["--state-dir", dir])
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("inventory-corrupt"), "\(r.output)")
        #expect(r.output.contains("table \(tamper.table), row 1, column \(tamper.column)"), "\(r.output)")
        #expect(r.output.contains(db), "\(r.output)")
        #expect(!r.output.contains("Fatal error"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == before)
    }

    @Test func symlinkedInventoryIsRefused() throws {
        let (dir, db) = try Self.inventory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.moveItem(atPath: db, toPath: dir + "/real.sqlite")
        try FileManager.default.createSymbolicLink(atPath: db, withDestinationPath: dir + "/real.sqlite")
        let r = try Run.smig(["vms", "--state-dir", dir])
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("state.symlink"), "\(r.output)")
    }
}
