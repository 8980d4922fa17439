public import Foundation
import GRDB

/// Which VM runs where, persisted in SQLite (`vms.sqlite` in the state directory).
///
/// Every step of a migration is committed before the next one starts, so after a crash
/// of the orchestrator the open migration row says how far it got (see `Recovery`).
/// Every change is also appended to `event` (an audit trail).
public final class VMInventory: Sendable {
    public static let fileName = "vms.sqlite"

    public let path: String
    let db: DatabaseQueue

    /// Opens (creating if needed) the inventory at `path`.
    public init(path: String) throws {
        self.path = path
        var config = Configuration()
        config.busyMode = .timeout(10)
        do {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            db = try DatabaseQueue(path: path, configuration: config)
            try Self.migrator.migrate(db)
        } catch {
            throw MigrationError(.inventory, side: .orchestrator, "cannot open inventory \(path): \(error)")
        }
    }

    /// Opens `<stateDirectory>/vms.sqlite`.
    public convenience init(stateDirectory: String) throws {
        try self.init(path: "\(stateDirectory)/\(Self.fileName)")
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

    private static func event(_ db: Database, vm: String?, migration: Int64?, _ what: String, _ detail: String) throws {
        try db.execute(sql: "INSERT INTO event (at, vm, migration, what, detail) VALUES (?, ?, ?, ?, ?)",
                       arguments: [Date().timeIntervalSince1970, vm, migration, what, detail])
    }

    // MARK: - Hosts

    public func addHost(_ host: MigrationHost) throws {
        try host.validate()
        try write { db in
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM host WHERE name = ?", arguments: [host.name]) ?? 0 > 0 {
                throw MigrationError(.alreadyExists, "host \(host.name) already exists")
            }
            for other in try Row.fetchAll(db, sql: "SELECT name, port_low, port_high FROM host") {
                let low: Int = other["port_low"], high: Int = other["port_high"]
                if (low...high).overlaps(host.ports) {
                    throw MigrationError(.invalidArgument, "ports \(host.portLow)-\(host.portHigh) overlap host \(other["name"] as String)'s \(low)-\(high)")
                }
            }
            try db.execute(sql: "INSERT INTO host (name, kind, address, port_low, port_high, state_dir) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [host.name, host.kind.rawValue, host.address, host.portLow, host.portHigh, host.stateDirectory])
            try Self.event(db, vm: nil, migration: nil, "host-added", "\(host.name) \(host.kind.rawValue) \(host.address) \(host.portLow)-\(host.portHigh)")
        }
    }

    public func hosts() throws -> [MigrationHost] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM host ORDER BY name").map(Self.host(from:)) }
    }

    /// The host called `name`, or `unknownHost`.
    public func host(named name: String) throws -> MigrationHost {
        let found = try read { db in try Row.fetchOne(db, sql: "SELECT * FROM host WHERE name = ?", arguments: [name]) }
        guard let found else { throw MigrationError(.unknownHost, "no host named '\(name)' in the inventory") }
        return Self.host(from: found)
    }

    private static func host(from row: Row) -> MigrationHost {
        MigrationHost(name: row["name"], kind: MigrationHost.Kind(rawValue: row["kind"]) ?? .qemu, address: row["address"],
                      portLow: row["port_low"], portHigh: row["port_high"], stateDirectory: row["state_dir"])
    }

    // MARK: - VMs

    public func addVM(_ description: VMDescription, host: String, state: VMRecord.State) throws {
        try description.validate()
        let json = String(decoding: try JSONEncoder().encode(description), as: UTF8.self)
        try write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM host WHERE name = ?", arguments: [host]) ?? 0 > 0 else {
                throw MigrationError(.unknownHost, "no host named '\(host)' in the inventory")
            }
            if try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM vm WHERE name = ?", arguments: [description.name]) ?? 0 > 0 {
                throw MigrationError(.alreadyExists, "VM \(description.name) already exists")
            }
            try db.execute(sql: "INSERT INTO vm (name, description, host, state, updated_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [description.name, json, host, state.rawValue, Date().timeIntervalSince1970])
            try Self.event(db, vm: description.name, migration: nil, "vm-added", "on \(host), \(state.rawValue)")
        }
    }

    public func setVM(_ name: String, host: String, state: VMRecord.State, why: String) throws {
        try write { db in
            try db.execute(sql: "UPDATE vm SET host = ?, state = ?, updated_at = ? WHERE name = ?",
                           arguments: [host, state.rawValue, Date().timeIntervalSince1970, name])
            guard db.changesCount == 1 else { throw MigrationError(.unknownVM, "no VM named '\(name)' in the inventory") }
            try Self.event(db, vm: name, migration: nil, "vm-\(state.rawValue)", "on \(host): \(why)")
        }
    }

    public func removeVM(_ name: String) throws {
        try write { db in
            try db.execute(sql: "DELETE FROM migration WHERE vm = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM vm WHERE name = ?", arguments: [name])
            guard db.changesCount == 1 else { throw MigrationError(.unknownVM, "no VM named '\(name)' in the inventory") }
            try Self.event(db, vm: name, migration: nil, "vm-removed", "")
        }
    }

    public func vms() throws -> [VMRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM vm ORDER BY name").map(Self.vm(from:)) }
    }

    /// The VM called `name`, or `unknownVM`.
    public func vm(named name: String) throws -> VMRecord {
        let found = try read { db in try Row.fetchOne(db, sql: "SELECT * FROM vm WHERE name = ?", arguments: [name]) }
        guard let found else { throw MigrationError(.unknownVM, "no VM named '\(name)' in the inventory") }
        return try Self.vm(from: found)
    }

    private static func vm(from row: Row) throws -> VMRecord {
        let json: String = row["description"]
        let description: VMDescription
        do {
            description = try JSONDecoder().decode(VMDescription.self, from: Data(json.utf8))
        } catch {
            throw MigrationError(.inventory, side: .orchestrator, "VM \(row["name"] as String): stored description is unreadable")
        }
        return VMRecord(description: description, host: row["host"],
                        state: VMRecord.State(rawValue: row["state"]) ?? .lost,
                        updatedAt: Date(timeIntervalSince1970: row["updated_at"]))
    }

    // MARK: - Migrations

    /// Opens a migration of `vm` (which must be `running` on `source`) at step `planned`.
    public func beginMigration(vm: String, source: String, target: String, port: Int) throws -> MigrationRecord {
        try write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT host, state FROM vm WHERE name = ?", arguments: [vm]) else {
                throw MigrationError(.unknownVM, "no VM named '\(vm)' in the inventory")
            }
            guard row["host"] as String == source, row["state"] as String == VMRecord.State.running.rawValue else {
                throw MigrationError(.wrongState, side: .source, "VM \(vm) is \(row["state"] as String) on \(row["host"] as String), not running on \(source)")
            }
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM migration WHERE target = ? AND port = ? AND outcome IS NULL", arguments: [target, port]) == 0 else {
                throw MigrationError(.noFreePort, side: .target, "port \(port) on \(target) is reserved by another migration")
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
    public func record(_ step: MigrationStep, migration id: Int64, detail: String = "") throws {
        try write { db in
            try db.execute(sql: "UPDATE migration SET step = ?, updated_at = ? WHERE id = ? AND outcome IS NULL",
                           arguments: [step.rawValue, Date().timeIntervalSince1970, id])
            guard db.changesCount == 1 else { throw MigrationError(.inventory, side: .orchestrator, "migration \(id) is not open") }
            let vm = try String.fetchOne(db, sql: "SELECT vm FROM migration WHERE id = ?", arguments: [id])
            try Self.event(db, vm: vm, migration: id, "migration-\(step.rawValue)", detail)
        }
    }

    /// Closes migration `id` and, in the same transaction, says where the VM now lives.
    public func finishMigration(_ id: Int64, outcome: MigrationRecord.Outcome, vmHost: String, vmState: VMRecord.State, error: String? = nil) throws {
        try write { db in
            guard let vm = try String.fetchOne(db, sql: "SELECT vm FROM migration WHERE id = ? AND outcome IS NULL", arguments: [id]) else {
                throw MigrationError(.inventory, side: .orchestrator, "migration \(id) is not open")
            }
            let now = Date().timeIntervalSince1970
            if outcome == .completed {
                try db.execute(sql: "UPDATE migration SET step = ? WHERE id = ?", arguments: [MigrationStep.completed.rawValue, id])
            }
            try db.execute(sql: "UPDATE migration SET outcome = ?, error = ?, updated_at = ? WHERE id = ?",
                           arguments: [outcome.rawValue, error, now, id])
            try db.execute(sql: "UPDATE vm SET host = ?, state = ?, updated_at = ? WHERE name = ?",
                           arguments: [vmHost, vmState.rawValue, now, vm])
            try Self.event(db, vm: vm, migration: id, "migration-\(outcome.rawValue)", "\(vm) \(vmState.rawValue) on \(vmHost)\(error.map { ": \($0)" } ?? "")")
        }
    }

    public func openMigrations() throws -> [MigrationRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM migration WHERE outcome IS NULL ORDER BY id").map(Self.migration(from:)) }
    }

    public func migrations(vm: String) throws -> [MigrationRecord] {
        try read { db in try Row.fetchAll(db, sql: "SELECT * FROM migration WHERE vm = ? ORDER BY id", arguments: [vm]).map(Self.migration(from:)) }
    }

    private static func migration(from row: Row) -> MigrationRecord {
        MigrationRecord(id: row["id"], vm: row["vm"], source: row["source"], target: row["target"], port: row["port"],
                        step: MigrationStep(rawValue: row["step"]) ?? .planned,
                        outcome: (row["outcome"] as String?).flatMap(MigrationRecord.Outcome.init(rawValue:)),
                        error: row["error"])
    }

    /// Ports of `host` reserved by open migrations.
    public func reservedPorts(host: String) throws -> Set<Int> {
        try read { db in
            Set(try Int.fetchAll(db, sql: "SELECT port FROM migration WHERE target = ? AND outcome IS NULL", arguments: [host]))
        }
    }

    /// The audit trail (oldest first), optionally for one VM.
    public func events(vm: String? = nil) throws -> [InventoryEvent] {
        try read { db in
            let rows = vm == nil
                ? try Row.fetchAll(db, sql: "SELECT * FROM event ORDER BY id")
                : try Row.fetchAll(db, sql: "SELECT * FROM event WHERE vm = ? ORDER BY id", arguments: [vm])
            return rows.map { InventoryEvent(id: $0["id"], at: Date(timeIntervalSince1970: $0["at"]), vm: $0["vm"], migration: $0["migration"], what: $0["what"], detail: $0["detail"]) }
        }
    }
}

/// One VM as the inventory knows it.
public struct VMRecord: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        case running, migrating, stopped, lost
    }
    public var description: VMDescription
    public var host: String
    public var state: State
    public var updatedAt: Date
    public var name: String { description.name }
}

/// One migration row.
public struct MigrationRecord: Codable, Sendable, Hashable {
    public enum Outcome: String, Codable, Sendable {
        /// Reached `completed`.
        case completed
        /// Failed or cancelled; the VM stayed on the source.
        case rolledBack = "rolled-back"
        /// Recovery found the target running and finished the move.
        case recoveredForward = "recovered-forward"
        /// Recovery found neither copy usable.
        case lost
    }
    public var id: Int64
    public var vm: String
    public var source: String
    public var target: String
    public var port: Int
    public var step: MigrationStep
    public var outcome: Outcome?
    public var error: String?
}

/// One audit record.
public struct InventoryEvent: Codable, Sendable, Hashable {
    public var id: Int64
    public var at: Date
    public var vm: String?
    public var migration: Int64?
    public var what: String
    public var detail: String
}
