import Foundation
package import Migration
import PostgresNIO
package import RegionTCB

/// The VM inventory and the orchestrator's per-step migration journal of one region in PostgreSQL (tables `vm_host`,
/// `vm`, `vm_migration`, `vm_event`, every row keyed by `region`), so every RC-TCB of the region works on the same
/// journal: a new leader finishes the migrations the old one left open (``Recovery``), with no file shared between
/// machines. It shares its region store's connection pool.
///
/// Writes of one region commit one at a time (each takes the region's inventory advisory lock first), as in the
/// SQLite file, so the checks a write makes (a free port, a VM not already moving) hold until it commits.
///
/// Fencing: the RC-TCB's inventory writes under the lease its leadership holds at the time (``Writer/leader(_:)``),
/// checked inside the write's transaction exactly as the region store's writes are: a write of a leader whose lease
/// has passed on, or of a follower, is `store.fenced` and changes nothing. The operator's commands
/// (`vm list --store`) write unfenced (``Writer/operator``).
package final class PostgresVMInventory: VMInventoryStore {
    /// Whose writes these are.
    package enum Writer: Sendable {
        /// The operator's: not fenced.
        case `operator`
        /// The RC-TCB's: fenced by the lease the closure returns when the write begins; nil (a follower) is refused.
        case leader(@Sendable () -> LeaderLease?)
    }

    let store: PostgresRegionStore
    let writer: Writer
    /// The prefix of the migration order ids the region's RC-TCBs send agents: made once per region and kept in
    /// `vm_inventory`, so a new leader asks an agent for the orders of the old one by their ids.
    package let orderPrefix: String

    package var location: String { store.location }
    var region: String { store.region }

    init(store: PostgresRegionStore, writer: Writer, orderPrefix: String) {
        (self.store, self.writer, self.orderPrefix) = (store, writer, orderPrefix)
    }

    // MARK: Plumbing

    /// Runs `body` in one write transaction: the fence first (if any), then the region's inventory lock. The
    /// inventory's own refusals come out as they are; anything else as the store's coded errors.
    func write<T: Sendable>(_ body: @Sendable @escaping (PostgresConnection) async throws -> T) async throws -> T {
        let lease: LeaderLease?
        switch writer {
        case .operator:
            lease = nil
        case .leader(let current):
            guard let held = current() else {
                throw RegionError(.storeFenced, "this RC-TCB follows region \(region)'s leader and writes nothing to the inventory",
                                  hint: "send the request to the leader (its address is in GET /v1/health)")
            }
            lease = held
        }
        return try await unwrapped {
            try await self.store.client.withTransaction(logger: self.store.logger) { c in
                if let lease { try await lease.check(on: c, logger: self.store.logger) }
                try await c.query("SELECT pg_advisory_xact_lock(hashtext('vm_inventory:' || \(self.region)))", logger: self.store.logger)
                return try await body(c)
            }
        }
    }

    func read<T: Sendable>(_ body: @Sendable @escaping () async throws -> T) async throws -> T {
        try await unwrapped(body)
    }

    /// `body` within the store's operation bound (no answer in time is `store.unreachable`, as for the store's own
    /// operations); the inventory's own refusals come out as they are.
    func unwrapped<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        do {
            return try await store.bounded(body)
        } catch {
            if let e = error as? MigrationError { throw e }
            if let t = error as? PostgresTransactionError, let e = t.closureError as? MigrationError { throw e }
            throw store.coded(error)
        }
    }

    @discardableResult
    func query(_ c: PostgresConnection, _ q: PostgresQuery) async throws -> PostgresRowSequence {
        try await c.query(q, logger: store.logger)
    }

    func query(_ q: PostgresQuery) async throws -> PostgresRowSequence {
        try await store.client.query(q, logger: store.logger)
    }

    /// `detail` may quote an agent's answer: kept ``Swift/String/storable`` (PostgreSQL's `text` refuses U+0000).
    func event(_ c: PostgresConnection, vm: String?, migration: Int64?, _ what: String, _ detail: String) async throws {
        try await query(c, """
            INSERT INTO vm_event (region, at, vm, migration, what, detail)
            VALUES (\(region), \(Date().timeIntervalSince1970), \(vm), \(migration), \(what), \(detail.storable))
            """)
    }

    /// A stored word (kind, state, step, outcome) as its type, or `inventory-corrupt` naming table, row and column.
    func word<W: RawRepresentable>(_ text: String, as: W.Type, _ table: String, _ key: String, _ column: String) throws -> W where W.RawValue == String {
        guard let w = W(rawValue: text) else { throw corrupt(table, key, column, "'\(text.prefix(40))' is not a known word") }
        return w
    }

    func corrupt(_ table: String, _ key: String, _ column: String, _ problem: String) -> MigrationError {
        MigrationError(.inventoryCorrupt, side: .orchestrator, "inventory \(location): table \(table), row \(key), column \(column): \(problem)")
    }

    func port(_ value: Int, _ table: String, _ key: String, _ column: String) throws -> Int {
        guard (0...65_535).contains(value) else { throw corrupt(table, key, column, "\(value) is not a port") }
        return value
    }

    func all<T>(_ rows: PostgresRowSequence, _ decode: (PostgresRow) throws -> T) async throws -> [T] {
        var out: [T] = []
        for try await r in rows { out.append(try decode(r)) }
        return out
    }

    // MARK: Hosts

    static let hostColumns = "name, kind, address, port_low, port_high, state_dir"

    func host(from r: PostgresRow) throws -> MigrationHost {
        let (name, kind, address, low, high, dir) = try r.decode((String, String, String, Int, Int, String).self)
        return MigrationHost(name: name, kind: try word(kind, as: MigrationHost.Kind.self, "vm_host", name, "kind"), address: address,
                             portLow: try port(low, "vm_host", name, "port_low"), portHigh: try port(high, "vm_host", name, "port_high"),
                             stateDirectory: dir)
    }

    func hosts(_ c: PostgresConnection) async throws -> [MigrationHost] {
        try await all(try await query(c, "SELECT \(unescaped: Self.hostColumns) FROM vm_host WHERE region = \(region) ORDER BY name"), host(from:))
    }

    func hostExists(_ c: PostgresConnection, _ name: String) async throws -> Bool {
        try await PostgresRegionStore.first(try await query(c, "SELECT 1 FROM vm_host WHERE region = \(region) AND name = \(name)")) != nil
    }

    package func addHost(_ host: MigrationHost) async throws {
        try host.validate()
        try await write { c in
            try VMInventoryRules.checkNew(host, among: try await self.hosts(c))
            try await self.query(c, """
                INSERT INTO vm_host (region, name, kind, address, port_low, port_high, state_dir)
                VALUES (\(self.region), \(host.name), \(host.kind.rawValue), \(host.address), \(host.portLow), \(host.portHigh), \(host.stateDirectory))
                """)
            try await self.event(c, vm: nil, migration: nil, "host-added", "\(host.name) \(host.kind.rawValue) \(host.address) \(host.portLow)-\(host.portHigh)")
        }
    }

    package func removeHost(_ name: String) async throws {
        try await write { c in
            guard try await self.hostExists(c, name) else { throw VMInventoryRules.unknownHost(name) }
            let vms = try await self.all(try await self.query(c, "SELECT name FROM vm WHERE region = \(self.region) AND host = \(name) ORDER BY name")) {
                try $0.decode(String.self)
            }
            let open = try await self.all(try await self.query(c, """
                SELECT vm FROM vm_migration WHERE region = \(self.region) AND outcome IS NULL AND (source = \(name) OR target = \(name)) ORDER BY vm
                """)) { try $0.decode(String.self) }
            try VMInventoryRules.checkRemovable(name, vms: vms, open: open)
            try await self.query(c, "DELETE FROM vm_host WHERE region = \(self.region) AND name = \(name)")
            try await self.event(c, vm: nil, migration: nil, "host-removed", name)
        }
    }

    package func hosts() async throws -> [MigrationHost] {
        try await read {
            try await self.all(try await self.query("SELECT \(unescaped: Self.hostColumns) FROM vm_host WHERE region = \(self.region) ORDER BY name"),
                               self.host(from:))
        }
    }

    package func host(named name: String) async throws -> MigrationHost {
        let found = try await read {
            try await self.all(try await self.query("""
                SELECT \(unescaped: Self.hostColumns) FROM vm_host WHERE region = \(self.region) AND name = \(name)
                """), self.host(from:)).first
        }
        guard let found else { throw VMInventoryRules.unknownHost(name) }
        return found
    }

    // MARK: VMs

    static let vmColumns = "name, description, host, state, updated_at"

    func vm(from r: PostgresRow) throws -> VMRecord {
        let (name, json, host, state, updated) = try r.decode((String, String, String, String, Double).self)
        switch VMInventoryRules.decode(description: json, of: name) {
        case .success(let description):
            return VMRecord(description: description, host: host, state: try word(state, as: VMRecord.State.self, "vm", name, "state"),
                            updatedAt: Date(timeIntervalSince1970: updated))
        case .failure(let problem):
            throw corrupt("vm", name, "description", problem.text)
        }
    }

    package func addVM(_ description: VMDescription, host: String, state: VMRecord.State) async throws {
        try description.validate()
        let json = try VMInventoryRules.encode(description)
        try await write { c in
            guard try await self.hostExists(c, host) else { throw VMInventoryRules.unknownHost(host) }
            let inserted = try await PostgresRegionStore.first(try await self.query(c, """
                INSERT INTO vm (region, name, description, host, state, updated_at)
                VALUES (\(self.region), \(description.name), \(json), \(host), \(state.rawValue), \(Date().timeIntervalSince1970))
                ON CONFLICT (region, name) DO NOTHING RETURNING name
                """))
            guard inserted != nil else { throw MigrationError(.alreadyExists, "VM \(description.name) already exists") }
            try await self.event(c, vm: description.name, migration: nil, "vm-added", "on \(host), \(state.rawValue)")
        }
    }

    package func setVM(_ name: String, host: String, state: VMRecord.State, why: String) async throws {
        try await write { c in
            let updated = try await PostgresRegionStore.first(try await self.query(c, """
                UPDATE vm SET host = \(host), state = \(state.rawValue), updated_at = \(Date().timeIntervalSince1970)
                WHERE region = \(self.region) AND name = \(name) RETURNING name
                """))
            guard updated != nil else { throw VMInventoryRules.unknownVM(name) }
            try await self.event(c, vm: name, migration: nil, "vm-\(state.rawValue)", "on \(host): \(why)")
        }
    }

    package func removeVM(_ name: String) async throws {
        try await write { c in
            try await self.query(c, "DELETE FROM vm_migration WHERE region = \(self.region) AND vm = \(name)")
            let removed = try await PostgresRegionStore.first(try await self.query(c, """
                DELETE FROM vm WHERE region = \(self.region) AND name = \(name) RETURNING name
                """))
            guard removed != nil else { throw VMInventoryRules.unknownVM(name) }
            try await self.event(c, vm: name, migration: nil, "vm-removed", "")
        }
    }

    package func vms() async throws -> [VMRecord] {
        try await read {
            try await self.all(try await self.query("SELECT \(unescaped: Self.vmColumns) FROM vm WHERE region = \(self.region) ORDER BY name"),
                               self.vm(from:))
        }
    }

    package func vm(named name: String) async throws -> VMRecord {
        let found = try await read {
            try await self.all(try await self.query("""
                SELECT \(unescaped: Self.vmColumns) FROM vm WHERE region = \(self.region) AND name = \(name)
                """), self.vm(from:)).first
        }
        guard let found else { throw VMInventoryRules.unknownVM(name) }
        return found
    }
}
