package import ArgumentParser
import Foundation
import Logging
package import Migration
import Policy
import RegionStorePostgres
import RegionTCB

/// Options shared by the migration commands.
package struct MigrationStateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "Directory holding the VM inventory (vms.sqlite) and per-host state. Default: $SMIG_STATE_DIR or /var/lib/smig-attest.",
        valueName: "dir"))
    package var stateDir: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    package var json = false

    @Option(help: ArgumentHelp("""
        The region store whose VM inventory to use (postgresql://…, as rctcb serve --store) instead of STATE-DIR/vms.sqlite; \
        needs --region. Per-host state (QMP sockets, logs) stays under the state directory.
        """, valueName: "url"))
    package var store: String?

    @Option(name: .customLong("region"), help: ArgumentHelp("With --store: the region policy, whose name is the region's in the store.", valueName: "file"))
    package var regionFile: String?

    package init() {}

    package func validate() throws {
        if store != nil, regionFile == nil { throw ValidationError("--store needs --region FILE (the region policy names the region in the store)") }
        if store == nil, regionFile != nil { throw ValidationError("--region is for --store (the state directory's inventory has no region)") }
    }

    var resolvedStateDir: String {
        if let stateDir { return absolute(stateDir) }
        if let env = ProcessInfo.processInfo.environment["SMIG_STATE_DIR"], !env.isEmpty { return absolute(env) }
        return "/var/lib/smig-attest"
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// Runs `body` on the inventory: the state directory's, or with `--store` the region's in PostgreSQL (the
    /// operator's writes, not fenced; the leader reads them as they are). Only `vm host add` creates a file
    /// (`create: true`); every other command fails with `no-inventory` (status 2) on a directory that has none,
    /// rather than list an empty one.
    func withInventory<T>(create: Bool = false, _ body: (any VMInventoryStore) async throws -> T) async throws -> T {
        guard let store, let regionFile else {
            return try await body(try VMInventory(stateDirectory: resolvedStateDir, create: create))
        }
        let region = try LoadedRegionPolicy.load(regionFile).policy.name
        let opened = try await PostgresRegionStore.open(url: store, region: region, logger: Logger(label: "smig-attest.store"))
        do {
            let result = try await body(try await opened.vmInventory(.operator))
            await opened.close()
            return result
        } catch {
            await opened.close()
            throw error
        }
    }

    /// Runs `body` with an orchestrator over ``withInventory(create:_:)``'s inventory.
    func withOrchestrator<T>(_ body: (MigrationOrchestrator) async throws -> T) async throws -> T {
        var qemu = QEMUDriver.Configuration()
        if let bin = ProcessInfo.processInfo.environment["SMIG_QEMU"], !bin.isEmpty { qemu.qemuBinary = bin }
        return try await withInventory { inventory in
            try await body(MigrationOrchestrator(inventory: inventory, qemu: QEMUDriver(configuration: qemu), logger: Logger(label: "smig.migration")))
        }
    }
}

/// Runs a migration command's body. A damaged inventory (a stored value of the wrong type or an unknown word), a
/// state directory without one, or an unsafe state file is an input error: one coded line naming the file (and
/// table, row and column), exit status 2. Other errors pass on.
func reportingInventoryErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as MigrationError where error.code == .inventoryCorrupt || error.code == .noInventory || error.code.rawValue.hasPrefix("state.") {
        Output.error(error.description)
        throw ExitCode(2)
    }
}
