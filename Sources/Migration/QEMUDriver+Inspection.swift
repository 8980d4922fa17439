package import Foundation

extension QEMUDriver {
    /// What a running QEMU says of itself over QMP: its run state and the machine a migration target must be launched
    /// with (``VMDescription``'s fields), for a VM manager that reports VMs it did not start.
    package struct Inspection: Sendable, Hashable {
        package var state: VMRunState
        /// The versioned machine type (`pc-i440fx-7.2`), as `qom-get /machine type` names its class.
        package var machineType: String
        package var memoryMiB: Int
        package var cpus: Int
        /// The file of the first block device with a medium (the built-in guests' floppy), if any.
        package var bootImage: String?
        /// `-uuid` (nil when QEMU runs with none: all zeros).
        package var uuid: UUID?
    }

    /// Inspects the QEMU of `instance` over its command monitor: `query-status`, `query-memory-size-summary`,
    /// `query-cpus-fast`, `qom-get /machine type`, `query-block`, `query-uuid`. A reply without what it must hold is
    /// `qmpProtocol`.
    package func inspect(_ instance: VMInstance) async throws -> Inspection {
        let qmp = try await QMPClient.connect(path: instance.controlPath, timeout: configuration.qmpTimeout)
        defer { qmp.close() }
        guard let word = try await qmp.execute("query-status")["status"]?.string else {
            throw MigrationError(.qmpProtocol, "query-status has no status")
        }
        guard let base = try await qmp.execute("query-memory-size-summary")["base-memory"]?.uint64 else {
            throw MigrationError(.qmpProtocol, "query-memory-size-summary has no base-memory")
        }
        guard let cpus = try await qmp.execute("query-cpus-fast").array?.count, cpus > 0 else {
            throw MigrationError(.qmpProtocol, "query-cpus-fast lists no vCPU")
        }
        guard let type = try await qmp.execute("qom-get", ["path": .string("/machine"), "property": .string("type")]).string,
              type.hasSuffix("-machine"), type.count > 8 else {
            throw MigrationError(.qmpProtocol, "qom-get /machine type is not a machine class")
        }
        let blocks = try await qmp.execute("query-block").array ?? []
        let image = blocks.lazy.compactMap { $0["inserted"]?["file"]?.string }.first
        let uuid = try await qmp.execute("query-uuid")["UUID"]?.string.flatMap(UUID.init(uuidString:))
        return Inspection(state: Self.runState(word), machineType: String(type.dropLast(8)), memoryMiB: Int(base >> 20), cpus: cpus, bootImage: image,
                          uuid: uuid == UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)) ? nil : uuid)
    }

    /// QEMU's `query-status` word as a ``VMRunState``.
    static func runState(_ word: String) -> VMRunState {
        switch word {
        case "running": .running
        case "paused", "prelaunch": .paused
        case "inmigrate": .incoming
        case "postmigrate": .postMigrate
        default: .other(word)
        }
    }
}
