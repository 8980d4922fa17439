import Foundation

/// Which VM runs where and the orchestrator's per-step migration journal, on either backend: ``VMInventory``
/// (SQLite, `vms.sqlite`, one RC-TCB's or one operator's file; the default) and the PostgreSQL inventory (target
/// `RegionStorePostgres`, each region's rows in a database several RC-TCBs of the region share, so a new leader
/// finishes what the old one's journal shows half done).
///
/// Every change commits its row and its audit event (``InventoryEvent``) in one transaction, and every step of a
/// migration is committed before the next one starts (``Recovery`` reads the open rows after a crash). Errors are
/// ``MigrationError``s with the inventory's codes; a backend may also throw its own coded errors (the PostgreSQL
/// inventory's `store.fenced` for a leader that no longer leads, `store.unreachable`).
///
/// The SQLite inventory's synchronous methods are its witnesses, so code that holds a ``VMInventory`` is unchanged;
/// ``MigrationOrchestrator`` and what uses it hold `any VMInventoryStore`.
package protocol VMInventoryStore: Sendable {
    /// Where the inventory is, for messages (a file path, or a database URL without its password and the region).
    var location: String { get }

    // MARK: Hosts

    /// Adds `host`; `alreadyExists` if a host of that name is there, `invalidArgument` if its ports overlap another's.
    func addHost(_ host: MigrationHost) async throws
    /// Removes host `name`; `wrongState` while a VM is recorded on it or an open migration names it.
    func removeHost(_ name: String) async throws
    func hosts() async throws -> [MigrationHost]
    /// The host called `name`, or `unknownHost`.
    func host(named name: String) async throws -> MigrationHost

    // MARK: VMs

    func addVM(_ description: VMDescription, host: String, state: VMRecord.State) async throws
    func setVM(_ name: String, host: String, state: VMRecord.State, why: String) async throws
    /// Removes the VM and its migration rows.
    func removeVM(_ name: String) async throws
    func vms() async throws -> [VMRecord]
    /// The VM called `name`, or `unknownVM`.
    func vm(named name: String) async throws -> VMRecord

    // MARK: The migration journal

    /// Opens a migration of `vm` (which must be `running`, or held `paused`, on `source`) at step `planned`.
    func beginMigration(vm: String, source: String, target: String, port: Int) async throws -> MigrationRecord
    /// Records that migration `id` has completed `step`.
    func record(_ step: MigrationStep, migration id: Int64, detail: String) async throws
    /// Closes migration `id` and, in the same transaction, says where the VM now lives.
    func finishMigration(_ id: Int64, outcome: MigrationRecord.Outcome, vmHost: String, vmState: VMRecord.State, error: String?) async throws
    /// The migrations not closed yet (a row whose outcome is not a known word is read too, and refused as corrupt).
    func openMigrations() async throws -> [MigrationRecord]
    func migrations(vm: String) async throws -> [MigrationRecord]
    /// Ports of `host` reserved by open migrations.
    func reservedPorts(host: String) async throws -> Set<Int>
    /// The audit trail (oldest first), optionally for one VM.
    func events(vm: String?) async throws -> [InventoryEvent]
}

extension VMInventory: VMInventoryStore {
    package var location: String { path }
}
