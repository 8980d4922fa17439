package import Foundation
import Glibc
import GRDB
import StateFiles

/// Which VM runs where, persisted in SQLite (`vms.sqlite` in the state directory).
///
/// Every step of a migration is committed before the next one starts, so after a crash
/// of the orchestrator the open migration row says how far it got (see `Recovery`).
/// Every change is also appended to `event` (an audit trail).
package final class VMInventory: Sendable {
    package static let fileName = "vms.sqlite"

    package let path: String
    let db: DatabaseQueue

    /// Opens the inventory at `path`, creating it (and its directory) if needed; with `create: false` a missing
    /// file is `noInventory` (commands that only read or change what is there must not conjure an empty one
    /// from a mistyped `--state-dir`).
    package init(path: String, create: Bool = true) throws {
        self.path = path
        if !create, !FileManager.default.fileExists(atPath: path) {
            throw MigrationError(.noInventory, side: .orchestrator,
                                 "no inventory at \(path) (hint: `smig-attest vm host add` creates one; check --state-dir and SMIG_STATE_DIR)")
        }
        var config = Configuration()
        config.busyMode = .timeout(10)
        // The directory and an existing file are checked as every state file is (no links, owner root or the
        // current user, not group/world-writable); a new file is created 0600 before SQLite opens it.
        do throws(StateFileError) {
            try StateFiles.checkDirectory(StateFiles.directory(of: path), create: true)
            close(try StateFiles.open(path, flags: O_RDWR, create: true))
        } catch {
            throw MigrationError(.init(rawValue: error.code.rawValue), side: .orchestrator, error.description)
        }
        do {
            db = try DatabaseQueue(path: path, configuration: config)
            // WAL: the RC-TCB and operator commands share the file; a step's commit costs one WAL append.
            try db.writeWithoutTransaction { try $0.execute(sql: "PRAGMA journal_mode = WAL") }
            try Self.migrator.migrate(db)
        } catch {
            throw MigrationError(.inventory, side: .orchestrator, "cannot open inventory \(path): \(error)")
        }
    }

    /// Opens `<stateDirectory>/vms.sqlite` (see `init(path:create:)`).
    package convenience init(stateDirectory: String, create: Bool = true) throws {
        try self.init(path: "\(stateDirectory)/\(Self.fileName)", create: create)
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE host (
                    name TEXT PRIMARY KEY, kind TEXT NOT NULL, address TEXT NOT NULL,
                    port_low INTEGER NOT NULL, port_high INTEGER NOT NULL, state_dir TEXT NOT NULL);
                CREATE TABLE vm (
                    name TEXT PRIMARY KEY, description TEXT NOT NULL,
                    host TEXT NOT NULL REFERENCES host(name), state TEXT NOT NULL,
                    updated_at REAL NOT NULL);
                CREATE TABLE migration (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, vm TEXT NOT NULL REFERENCES vm(name),
                    source TEXT NOT NULL, target TEXT NOT NULL, port INTEGER NOT NULL,
                    step TEXT NOT NULL, outcome TEXT, error TEXT,
                    started_at REAL NOT NULL, updated_at REAL NOT NULL);
                CREATE UNIQUE INDEX one_open_migration_per_vm ON migration(vm) WHERE outcome IS NULL;
                CREATE TABLE event (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, vm TEXT,
                    migration INTEGER, what TEXT NOT NULL, detail TEXT NOT NULL);
                """)
        }
        return m
    }

    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try db.write(body)
        } catch let error as MigrationError {
            throw error
        } catch {
            throw MigrationError(.inventory, side: .orchestrator, "inventory \(path): \(error)")
        }
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try db.read(body)
        } catch let error as MigrationError {
            throw error
        } catch {
            throw MigrationError(.inventory, side: .orchestrator, "inventory \(path): \(error)")
        }
    }

    /// `detail` may quote an agent's answer: kept ``Swift/String/storable``.
    private static func event(_ db: Database, vm: String?, migration: Int64?, _ what: String, _ detail: String) throws {
        try db.execute(sql: "INSERT INTO event (at, vm, migration, what, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [Date().timeIntervalSince1970, vm, migration, what, detail.storable])
    }

    // MARK: - Hosts

    package func addHost(_ host: MigrationHost) throws {
        try host.validate()
        try write { db in
            try VMInventoryRules.checkNew(host, among: try Row.fetchAll(db, sql: "SELECT rowid AS row_id, * FROM host").map(host(from:)))
            try db.execute(sql: "INSERT INTO host (name, kind, address, port_low, port_high, state_dir) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [host.name, host.kind.rawValue, host.address, host.portLow, host.portHigh, host.stateDirectory])
            try Self.event(db, vm: nil, migration: nil, "host-added", "\(host.name) \(host.kind.rawValue) \(host.address) \(host.portLow)-\(host.portHigh)")
        }
    }

    /// Removes host `name` from the inventory. Refused (`wrongState`, nothing changed) while a VM is recorded on
    /// it or an open migration names it as source or target: stop or move those VMs first.
    package func removeHost(_ name: String) throws {
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM host WHERE name = ?", arguments: [name]) ?? 0 > 0 else {
                throw VMInventoryRules.unknownHost(name)
            }
            try VMInventoryRules.checkRemovable(
                name, vms: try String.fetchAll(db, sql: "SELECT name FROM vm WHERE host = ? ORDER BY name", arguments: [name]),
                open: try String.fetchAll(db, sql: "SELECT vm FROM migration WHERE outcome IS NULL AND (source = ? OR target = ?) ORDER BY vm",
                                          arguments: [name, name]))
            try db.execute(sql: "DELETE FROM host WHERE name = ?", arguments: [name])
            try Self.event(db, vm: nil, migration: nil, "host-removed", name)
        }
    }

    package func hosts() throws -> [MigrationHost] {
        try read { db in try Row.fetchAll(db, sql: "SELECT rowid AS row_id, * FROM host ORDER BY name").map(host(from:)) }
    }

    /// The host called `name`, or `unknownHost`.
    package func host(named name: String) throws -> MigrationHost {
        let found = try read { db in try Row.fetchOne(db, sql: "SELECT rowid AS row_id, * FROM host WHERE name = ?", arguments: [name]) }
        guard let found else { throw VMInventoryRules.unknownHost(name) }
        return try host(from: found)
    }

    private func host(from row: Row) throws(MigrationError) -> MigrationHost {
        let stored = StoredRow(row, table: "host", file: path)
        return MigrationHost(name: try stored.text("name"), kind: try stored.word("kind", as: MigrationHost.Kind.self),
                             address: try stored.text("address"), portLow: try stored.int("port_low", in: 0...65_535),
                             portHigh: try stored.int("port_high", in: 0...65_535),
                             stateDirectory: try stored.text("state_dir"))
    }

    // MARK: - VMs

    package func addVM(_ description: VMDescription, host: String, state: VMRecord.State) throws {
        try description.validate()
        let json = try VMInventoryRules.encode(description)
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM host WHERE name = ?", arguments: [host]) ?? 0 > 0 else {
                throw VMInventoryRules.unknownHost(host)
            }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM vm WHERE name = ?", arguments: [description.name]) ?? 0 > 0 {
                throw MigrationError(.alreadyExists, "VM \(description.name) already exists")
            }
            try db.execute(sql: "INSERT INTO vm (name, description, host, state, updated_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [description.name, json, host, state.rawValue, Date().timeIntervalSince1970])
            try Self.event(db, vm: description.name, migration: nil, "vm-added", "on \(host), \(state.rawValue)")
        }
    }

    package func setVM(_ name: String, host: String, state: VMRecord.State, why: String) throws {
        try write { db in
            try db.execute(sql: "UPDATE vm SET host = ?, state = ?, updated_at = ? WHERE name = ?",
                           arguments: [host, state.rawValue, Date().timeIntervalSince1970, name])
            guard db.changesCount == 1 else { throw VMInventoryRules.unknownVM(name) }
            try Self.event(db, vm: name, migration: nil, "vm-\(state.rawValue)", "on \(host): \(why)")
        }
    }

    package func removeVM(_ name: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM migration WHERE vm = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM vm WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { throw VMInventoryRules.unknownVM(name) }
            try Self.event(db, vm: name, migration: nil, "vm-removed", "")
        }
    }

    package func vms() throws -> [VMRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT rowid AS row_id, * FROM vm ORDER BY name").map(vm(from:)) }
    }

    /// The VM called `name`, or `unknownVM`.
    package func vm(named name: String) throws -> VMRecord {
        let found = try read { db in try Row.fetchOne(db, sql: "SELECT rowid AS row_id, * FROM vm WHERE name = ?", arguments: [name]) }
        guard let found else { throw VMInventoryRules.unknownVM(name) }
        return try vm(from: found)
    }

    private func vm(from row: Row) throws(MigrationError) -> VMRecord {
        let stored = StoredRow(row, table: "vm", file: path)
        let name = try stored.text("name")
        let json = try stored.text("description")
        let description: VMDescription
        switch VMInventoryRules.decode(description: json, of: name) {
        case .success(let d): description = d
        case .failure(let problem): throw stored.corrupt("description", problem.text)
        }
        return VMRecord(description: description, host: try stored.text("host"),
                        state: try stored.word("state", as: VMRecord.State.self),
                        updatedAt: try stored.date("updated_at"))
    }

    // MARK: - Migrations

    /// Opens a migration of `vm` (which must be `running`, or held `paused`, on `source`) at step `planned`.
    package func beginMigration(vm: String, source: String, target: String, port: Int) throws -> MigrationRecord {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT rowid AS row_id, host, state FROM vm WHERE name = ?", arguments: [vm]) else {
                throw VMInventoryRules.unknownVM(vm)
            }
            let stored = StoredRow(row, table: "vm", file: path)
            let host = try stored.text("host"), state = try stored.word("state", as: VMRecord.State.self)
            let open = state != .migrating ? nil
                : try Row.fetchOne(db, sql: "SELECT source, target, step FROM migration WHERE vm = ? AND outcome IS NULL", arguments: [vm])
                    .map { "\($0["source"] as String? ?? "?") -> \($0["target"] as String? ?? "?") at step \($0["step"] as String? ?? "?")" }
            try VMInventoryRules.checkMovable(vm, host: host, state: state, source: source, open: open)
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM migration WHERE target = ? AND port = ? AND outcome IS NULL", arguments: [target, port]) == 0 else {
                throw VMInventoryRules.portTaken(port, target: target)
            }
            let now = Date().timeIntervalSince1970
            try db.execute(sql: "INSERT INTO migration (vm, source, target, port, step, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           arguments: [vm, source, target, port, MigrationStep.planned.rawValue, now, now])
            let id = db.lastInsertedRowID
            try db.execute(sql: "UPDATE vm SET state = ?, updated_at = ? WHERE name = ?",
                           arguments: [VMRecord.State.migrating.rawValue, now, vm])
            try Self.event(db, vm: vm, migration: id, "migration-planned", "\(source) -> \(target) port \(port)")
            return MigrationRecord(id: id, vm: vm, source: source, target: target, port: port, step: .planned, outcome: nil, error: nil)
        }
    }

    /// Records that migration `id` has completed `step`.
    package func record(_ step: MigrationStep, migration id: Int64, detail: String = "") throws {
        try write { db in
            try db.execute(sql: "UPDATE migration SET step = ?, updated_at = ? WHERE id = ? AND outcome IS NULL",
                           arguments: [step.rawValue, Date().timeIntervalSince1970, id])
            guard db.changesCount == 1 else { throw VMInventoryRules.notOpen(id) }
            let vm = try Row.fetchOne(db, sql: "SELECT rowid AS row_id, vm FROM migration WHERE id = ?", arguments: [id])
                .map { row throws(MigrationError) in try StoredRow(row, table: "migration", file: path).text("vm") }
            try Self.event(db, vm: vm, migration: id, "migration-\(step.rawValue)", detail)
        }
    }

    /// Closes migration `id` and, in the same transaction, says where the VM now lives.
    package func finishMigration(_ id: Int64, outcome: MigrationRecord.Outcome, vmHost: String, vmState: VMRecord.State, error: String? = nil) throws {
        try write { db in
            guard let vm = try Row.fetchOne(db, sql: "SELECT rowid AS row_id, vm FROM migration WHERE id = ? AND outcome IS NULL", arguments: [id])
                .map({ row throws(MigrationError) in try StoredRow(row, table: "migration", file: path).text("vm") }) else {
                throw VMInventoryRules.notOpen(id)
            }
            let now = Date().timeIntervalSince1970
            if outcome == .completed {
                try db.execute(sql: "UPDATE migration SET step = ? WHERE id = ?", arguments: [MigrationStep.completed.rawValue, id])
            }
            // The error may quote an agent's answer (``Swift/String/storable``).
            try db.execute(sql: "UPDATE migration SET outcome = ?, error = ?, updated_at = ? WHERE id = ?",
                           arguments: [outcome.rawValue, error?.storable, now, id])
            try db.execute(sql: "UPDATE vm SET host = ?, state = ?, updated_at = ? WHERE name = ?",
                           arguments: [vmHost, vmState.rawValue, now, vm])
            try Self.event(db, vm: vm, migration: id, "migration-\(outcome.rawValue)", VMInventoryRules.closedDetail(vm: vm, state: vmState, host: vmHost, error: error))
        }
    }

    /// The migrations not closed yet. A row whose outcome is not a known word is read too (and refused as
    /// corrupt): a tampered outcome must not make an open migration look closed.
    package func openMigrations() throws -> [MigrationRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT rowid AS row_id, * FROM migration WHERE outcome IS NULL OR outcome NOT IN (\(VMInventoryRules.knownOutcomes)) ORDER BY id")
                .map(migration(from:))
        }
    }

    package func migrations(vm: String) throws -> [MigrationRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT rowid AS row_id, * FROM migration WHERE vm = ? ORDER BY id", arguments: [vm]).map(migration(from:)) }
    }

    private func migration(from row: Row) throws(MigrationError) -> MigrationRecord {
        let stored = StoredRow(row, table: "migration", file: path)
        return MigrationRecord(id: try stored.integer("id"), vm: try stored.text("vm"), source: try stored.text("source"),
                               target: try stored.text("target"), port: try stored.int("port", in: 0...65_535),
                               step: try stored.word("step", as: MigrationStep.self),
                               outcome: try stored.optionalWord("outcome", as: MigrationRecord.Outcome.self),
                               error: try stored.optionalText("error"))
    }

    /// Ports of `host` reserved by open migrations.
    package func reservedPorts(host: String) throws -> Set<Int> {
        try read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT rowid AS row_id, port FROM migration WHERE target = ? AND outcome IS NULL",
                                        arguments: [host])
            return Set(try rows.map { row throws(MigrationError) in
                try StoredRow(row, table: "migration", file: path).int("port", in: 0...65_535)
            })
        }
    }

    /// The audit trail (oldest first), optionally for one VM.
    package func events(vm: String? = nil) throws -> [InventoryEvent] {
        try read { db in
            let rows = vm == nil
                ? try Row.fetchAll(db, sql: "SELECT rowid AS row_id, * FROM event ORDER BY id")
                : try Row.fetchAll(db, sql: "SELECT rowid AS row_id, * FROM event WHERE vm = ? ORDER BY id", arguments: [vm])
            return try rows.map { row throws(MigrationError) in
                let stored = StoredRow(row, table: "event", file: path)
                return InventoryEvent(id: try stored.integer("id"), at: try stored.date("at"), vm: try stored.optionalText("vm"),
                                      migration: try stored.optionalInteger("migration"), what: try stored.text("what"),
                                      detail: try stored.text("detail"))
            }
        }
    }
}

/// One VM as the inventory knows it.
package struct VMRecord: Codable, Sendable, Hashable {
    package enum State: String, Codable, Sendable, CaseIterable {
        case running, migrating, stopped, lost
        /// Held in place, not running (an evacuation found no trusted target and the policy said pause).
        case paused
    }
    package var description: VMDescription
    package var host: String
    package var state: State
    package var updatedAt: Date
    package var name: String { description.name }

    package init(description: VMDescription, host: String, state: State, updatedAt: Date) {
        (self.description, self.host, self.state, self.updatedAt) = (description, host, state, updatedAt)
    }
}

/// One migration row.
package struct MigrationRecord: Codable, Sendable, Hashable {
    package enum Outcome: String, Codable, Sendable, CaseIterable {
        /// Reached `completed`.
        case completed
        /// Failed or cancelled; the VM stayed on the source.
        case rolledBack = "rolled-back"
        /// Recovery found the target running and finished the move.
        case recoveredForward = "recovered-forward"
        /// Recovery found neither copy usable.
        case lost
    }
    package var id: Int64
    package var vm: String
    package var source: String
    package var target: String
    package var port: Int
    package var step: MigrationStep
    package var outcome: Outcome?
    package var error: String?

    package init(id: Int64, vm: String, source: String, target: String, port: Int, step: MigrationStep, outcome: Outcome?, error: String?) {
        (self.id, self.vm, self.source, self.target, self.port, self.step, self.outcome, self.error) = (id, vm, source, target, port, step, outcome, error)
    }
}

/// One audit record.
package struct InventoryEvent: Codable, Sendable, Hashable {
    package var id: Int64
    package var at: Date
    package var vm: String?
    package var migration: Int64?
    package var what: String
    package var detail: String

    package init(id: Int64, at: Date, vm: String?, migration: Int64?, what: String, detail: String) {
        (self.id, self.at, self.vm, self.migration, self.what, self.detail) = (id, at, vm, migration, what, detail)
    }
}
