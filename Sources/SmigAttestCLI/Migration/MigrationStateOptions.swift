public import ArgumentParser
import Foundation
import Logging
import Migration

/// Options shared by the migration commands.
public struct MigrationStateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp(
        "Directory holding the VM inventory (vms.sqlite) and per-host state. Default: $SMIG_STATE_DIR or /var/lib/smig-attest.",
        valueName: "dir"))
    public var stateDir: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    public var json = false

    public init() {}

    var resolvedStateDir: String {
        if let stateDir { return absolute(stateDir) }
        if let env = ProcessInfo.processInfo.environment["SMIG_STATE_DIR"], !env.isEmpty { return absolute(env) }
        return "/var/lib/smig-attest"
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    func inventory() throws -> VMInventory {
        try VMInventory(stateDirectory: resolvedStateDir)
    }

    func orchestrator() throws -> MigrationOrchestrator {
        var qemu = QEMUDriver.Configuration()
        if let bin = ProcessInfo.processInfo.environment["SMIG_QEMU"], !bin.isEmpty { qemu.qemuBinary = bin }
        return MigrationOrchestrator(inventory: try inventory(), qemu: QEMUDriver(configuration: qemu),
                                     logger: Logger(label: "smig.migration"))
    }
}

/// JSON output shared by the commands: sorted keys, pretty, ISO-8601 dates.
enum MigrationOutput {
    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// A plain text table: columns padded to the widest cell.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func stderr(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
