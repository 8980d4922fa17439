import Foundation
package import Migration
import PostgresNIO
package import RegionTCB

/// The per-step migration journal (`vm_migration`) and the inventory's audit trail (`vm_event`).
extension PostgresVMInventory {
    static let migrationColumns = "id, vm, source, target, port, step, outcome, error"

    func migration(from r: PostgresRow) throws -> MigrationRecord {
        let (id, vm, source, target, port, step, outcome, error) = try r.decode((Int64, String, String, String, Int, String, String?, String?).self)
        let key = String(id)
        return MigrationRecord(id: id, vm: vm, source: source, target: target, port: try self.port(port, "vm_migration", key, "port"),
                               step: try word(step, as: MigrationStep.self, "vm_migration", key, "step"),
                               outcome: try outcome.map { o in try word(o, as: MigrationRecord.Outcome.self, "vm_migration", key, "outcome") },
                               error: error)
    }

    package func beginMigration(vm: String, source: String, target: String, port: Int) async throws -> MigrationRecord {
        try await write { c in
            guard let row = try await PostgresRegionStore.first(try await self.query(c, """
                SELECT host, state FROM vm WHERE region = \(self.region) AND name = \(vm) FOR UPDATE
                """)) else { throw VMInventoryRules.unknownVM(vm) }
            let (host, stateWord) = try row.decode((String, String).self)
            let state = try self.word(stateWord, as: VMRecord.State.self, "vm", vm, "state")
            let open = state != .migrating ? nil : try await PostgresRegionStore.first(try await self.query(c, """
                SELECT source, target, step FROM vm_migration WHERE region = \(self.region) AND vm = \(vm) AND outcome IS NULL
                """)).map { r in
                    let (s, t, step) = try r.decode((String, String, String).self)
                    return "\(s) -> \(t) at step \(step)"
                }
            try VMInventoryRules.checkMovable(vm, host: host, state: state, source: source, open: open)
            let taken = try await PostgresRegionStore.first(try await self.query(c, """
                SELECT 1 FROM vm_migration WHERE region = \(self.region) AND target = \(target) AND port = \(port) AND outcome IS NULL
                """))
            guard taken == nil else { throw VMInventoryRules.portTaken(port, target: target) }
            let now = Date().timeIntervalSince1970
            guard let inserted = try await PostgresRegionStore.first(try await self.query(c, """
                INSERT INTO vm_migration (region, vm, source, target, port, step, started_at, updated_at)
                VALUES (\(self.region), \(vm), \(source), \(target), \(port), \(MigrationStep.planned.rawValue), \(now), \(now)) RETURNING id
                """)) else { throw MigrationError(.inventory, side: .orchestrator, "table vm_migration: no id returned") }
            let id = try inserted.decode(Int64.self)
            try await self.query(c, """
                UPDATE vm SET state = \(VMRecord.State.migrating.rawValue), updated_at = \(now) WHERE region = \(self.region) AND name = \(vm)
                """)
            try await self.event(c, vm: vm, migration: id, "migration-planned", "\(source) -> \(target) port \(port)")
            return MigrationRecord(id: id, vm: vm, source: source, target: target, port: port, step: .planned, outcome: nil, error: nil)
        }
    }

    package func record(_ step: MigrationStep, migration id: Int64, detail: String) async throws {
        try await write { c in
            guard let row = try await PostgresRegionStore.first(try await self.query(c, """
                UPDATE vm_migration SET step = \(step.rawValue), updated_at = \(Date().timeIntervalSince1970)
                WHERE region = \(self.region) AND id = \(id) AND outcome IS NULL RETURNING vm
                """)) else { throw VMInventoryRules.notOpen(id) }
            try await self.event(c, vm: try row.decode(String.self), migration: id, "migration-\(step.rawValue)", detail)
        }
    }

    package func finishMigration(_ id: Int64, outcome: MigrationRecord.Outcome, vmHost: String, vmState: VMRecord.State, error: String?) async throws {
        try await write { c in
            guard let row = try await PostgresRegionStore.first(try await self.query(c, """
                SELECT vm FROM vm_migration WHERE region = \(self.region) AND id = \(id) AND outcome IS NULL FOR UPDATE
                """)) else { throw VMInventoryRules.notOpen(id) }
            let vm = try row.decode(String.self)
            let now = Date().timeIntervalSince1970
            if outcome == .completed {
                try await self.query(c, "UPDATE vm_migration SET step = \(MigrationStep.completed.rawValue) WHERE id = \(id)")
            }
            // The error may quote an agent's answer (``Swift/String/storable``).
            try await self.query(c, "UPDATE vm_migration SET outcome = \(outcome.rawValue), error = \(error?.storable), updated_at = \(now) WHERE id = \(id)")
            try await self.query(c, """
                UPDATE vm SET host = \(vmHost), state = \(vmState.rawValue), updated_at = \(now) WHERE region = \(self.region) AND name = \(vm)
                """)
            try await self.event(c, vm: vm, migration: id, "migration-\(outcome.rawValue)",
                                 VMInventoryRules.closedDetail(vm: vm, state: vmState, host: vmHost, error: error))
        }
    }

    package func openMigrations() async throws -> [MigrationRecord] {
        try await read {
            try await self.all(try await self.query("""
                SELECT \(unescaped: Self.migrationColumns) FROM vm_migration
                WHERE region = \(self.region) AND (outcome IS NULL OR outcome NOT IN (\(unescaped: VMInventoryRules.knownOutcomes))) ORDER BY id
                """), self.migration(from:))
        }
    }

    package func migrations(vm: String) async throws -> [MigrationRecord] {
        try await read {
            try await self.all(try await self.query("""
                SELECT \(unescaped: Self.migrationColumns) FROM vm_migration WHERE region = \(self.region) AND vm = \(vm) ORDER BY id
                """), self.migration(from:))
        }
    }

    package func reservedPorts(host: String) async throws -> Set<Int> {
        try await read {
            Set(try await self.all(try await self.query("""
                SELECT port FROM vm_migration WHERE region = \(self.region) AND target = \(host) AND outcome IS NULL
                """)) { r in try self.port(try r.decode(Int.self), "vm_migration", "?", "port") })
        }
    }

    package func events(vm: String?) async throws -> [InventoryEvent] {
        try await read {
            let columns = "id, at, vm, migration, what, detail"
            let rows = if let vm {
                try await self.query("SELECT \(unescaped: columns) FROM vm_event WHERE region = \(self.region) AND vm = \(vm) ORDER BY id")
            } else {
                try await self.query("SELECT \(unescaped: columns) FROM vm_event WHERE region = \(self.region) ORDER BY id")
            }
            return try await self.all(rows) { r in
                let (id, at, vm, migration, what, detail) = try r.decode((Int64, Double, String?, Int64?, String, String).self)
                return InventoryEvent(id: id, at: Date(timeIntervalSince1970: at), vm: vm, migration: migration, what: what, detail: detail)
            }
        }
    }
}

extension PostgresRegionStore {
    /// This region's VM inventory in the store, sharing its connection pool; `writer` says whose writes they are
    /// (fenced by the leader's lease, or the operator's). The region's order-id prefix is made on first use.
    package func vmInventory(_ writer: PostgresVMInventory.Writer) async throws(RegionError) -> PostgresVMInventory {
        var rng = SystemRandomNumberGenerator()
        let fresh = String(format: "%016llx", rng.next() as UInt64)
        let prefix = try await run {
            try await self.client.query("""
                INSERT INTO vm_inventory (region, order_prefix) VALUES (\(self.region), \(fresh)) ON CONFLICT (region) DO NOTHING
                """, logger: self.logger)
            let rows = try await self.client.query("SELECT order_prefix FROM vm_inventory WHERE region = \(self.region)", logger: self.logger)
            guard let r = try await Self.first(rows) else { throw RegionError(.storeFailed, "table vm_inventory, region \(self.region): no order prefix") }
            return try r.decode(String.self)
        }
        return PostgresVMInventory(store: self, writer: writer, orderPrefix: prefix)
    }

    package func inventory(fencedBy lease: (@Sendable () -> LeaderLease?)?) async throws(RegionError) -> (inventory: any VMInventoryStore, orderPrefix: String) {
        let inventory = try await vmInventory(lease.map { .leader($0) } ?? .operator)
        return (inventory, inventory.orderPrefix)
    }
}
