package import ArgumentParser
import Foundation
import Logging
import Migration

/// Options shared by the migration commands.
package struct MigrationStateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "Directory holding the VM inventory (vms.sqlite) and per-host state. Default: $SMIG_STATE_DIR or /var/lib/smig-attest.",
        valueName: "dir"))
    package var stateDir: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    package var json = false

    package init() {}

    var resolvedStateDir: String {
        if let stateDir { return absolute(stateDir) }
        if let env = ProcessInfo.processInfo.environment["SMIG_STATE_DIR"], !env.isEmpty { return absolute(env) }
        return "/var/lib/smig-attest"
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    /// The inventory of the state directory. Only `vm host add` creates one (`create: true`); every other command
    /// fails with `no-inventory` (status 2) on a directory that has none, rather than list an empty one.
    func inventory(create: Bool = false) throws -> VMInventory {
        try VMInventory(stateDirectory: resolvedStateDir, create: create)
    }

    func orchestrator() throws -> MigrationOrchestrator {
        var qemu = QEMUDriver.Configuration()
        if let bin = ProcessInfo.processInfo.environment["SMIG_QEMU"], !bin.isEmpty { qemu.qemuBinary = bin }
        return MigrationOrchestrator(inventory: try inventory(), qemu: QEMUDriver(configuration: qemu),
                                     logger: Logger(label: "smig.migration"))
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
