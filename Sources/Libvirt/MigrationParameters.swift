internal import CLibvirt

/// How a libvirt live migration may use the link: `virDomainMigrateToURI3`'s typed parameters and flags, and the
/// downtime limit set just before it.
package struct MigrationParameters: Sendable, Hashable, Codable {
    /// `VIR_MIGRATE_PARAM_BANDWIDTH`, MiB/s; nil leaves libvirt's default (no cap: it lifts QEMU's 128 MiB/s).
    package var bandwidthMiBPerSecond: UInt64?
    /// Longest pause of the guest in the final copy, ms (`virDomainMigrateSetMaxDowntime`); nil leaves QEMU's 300 ms.
    package var maxDowntimeMs: UInt64?
    /// `VIR_MIGRATE_AUTO_CONVERGE`: slow the guest's vCPUs down when it dirties memory faster than the link sends it.
    package var autoConverge: Bool
    /// `VIR_MIGRATE_PARALLEL` with `VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS` (QEMU multifd); nil: one connection.
    package var parallelConnections: Int?
    /// `VIR_MIGRATE_PARAM_URI`: where the hypervisor sends the memory (`tcp://10.0.0.2`); nil lets the destination
    /// choose (its `migration_host` in qemu.conf, else its host name).
    package var migrateURI: String?

    package init(bandwidthMiBPerSecond: UInt64? = nil, maxDowntimeMs: UInt64? = nil, autoConverge: Bool = false,
                 parallelConnections: Int? = nil, migrateURI: String? = nil) {
        self.bandwidthMiBPerSecond = bandwidthMiBPerSecond
        self.maxDowntimeMs = maxDowntimeMs
        self.autoConverge = autoConverge
        self.parallelConnections = parallelConnections
        self.migrateURI = migrateURI
    }

    /// Made for evacuation, like the QEMU driver's: no practical bandwidth cap (10 GiB/s), 50 ms downtime,
    /// auto-converge on.
    package static let evacuation = MigrationParameters(bandwidthMiBPerSecond: 10 << 10, maxDowntimeMs: 50, autoConverge: true)

    /// The flags every migration of this module uses, by the names libvirt's documentation gives them (without
    /// `VIR_MIGRATE_`, in lower case).
    static let baseFlags: [(name: String, value: virDomainMigrateFlags)] = [
        ("live", VIR_MIGRATE_LIVE), ("peer2peer", VIR_MIGRATE_PEER2PEER), ("paused", VIR_MIGRATE_PAUSED),
        ("persist-dest", VIR_MIGRATE_PERSIST_DEST), ("undefine-source", VIR_MIGRATE_UNDEFINE_SOURCE),
    ]

    private var allFlags: [(name: String, value: virDomainMigrateFlags)] {
        var flags = Self.baseFlags
        if autoConverge { flags.append(("auto-converge", VIR_MIGRATE_AUTO_CONVERGE)) }
        if parallelConnections != nil { flags.append(("parallel", VIR_MIGRATE_PARALLEL)) }
        return flags
    }

    /// The `virDomainMigrateToURI3` flags for these parameters.
    var flags: UInt32 { allFlags.reduce(0) { $0 | $1.value.rawValue } }

    /// The names of those flags (for logs): `live`, `peer2peer`, `paused`, `persist-dest`, `undefine-source`, and
    /// `auto-converge`, `parallel` when asked for.
    package var flagNames: [String] { allFlags.map(\.name) }

    /// Rejects what libvirt would reject later, or misread: a zero bandwidth (libvirt reads it as "no limit"), fewer
    /// than one or more than 255 parallel connections, a zero downtime.
    package func validate() throws {
        if bandwidthMiBPerSecond == 0 {
            throw LibvirtError(.invalidArgument, function: "migrate", message: "bandwidth must be at least 1 MiB/s (nil: libvirt's default, no cap)")
        }
        if maxDowntimeMs == 0 {
            throw LibvirtError(.invalidArgument, function: "migrate", message: "max downtime must be at least 1 ms")
        }
        if let n = parallelConnections, !(1...255).contains(n) {
            throw LibvirtError(.invalidArgument, function: "migrate", message: "parallel connections must be 1 to 255, not \(n)")
        }
    }
}

/// The figures of a domain's job (`virDomainGetJobStats`). Each is nil when the hypervisor did not report it.
package struct JobStats: Sendable, Hashable, Codable {
    /// `virDomainJobType`.
    package enum Kind: String, Sendable, Hashable, Codable {
        /// No job runs.
        case none
        /// A job whose end is known from the start.
        case bounded
        /// A job that runs until it converges or is stopped: a migration.
        case unbounded
        case completed
        case failed
        case cancelled

        init(_ raw: Int32) {
            switch raw {
            case Int32(VIR_DOMAIN_JOB_BOUNDED.rawValue): self = .bounded
            case Int32(VIR_DOMAIN_JOB_UNBOUNDED.rawValue): self = .unbounded
            case Int32(VIR_DOMAIN_JOB_COMPLETED.rawValue): self = .completed
            case Int32(VIR_DOMAIN_JOB_FAILED.rawValue): self = .failed
            case Int32(VIR_DOMAIN_JOB_CANCELLED.rawValue): self = .cancelled
            default: self = .none
            }
        }
    }

    package var kind: Kind
    /// ms since the job started.
    package var timeElapsedMs: UInt64?
    /// Bytes to send in all (memory and, for a storage copy, disks), processed so far, and left.
    package var dataTotal: UInt64?
    package var dataProcessed: UInt64?
    package var dataRemaining: UInt64?
    /// The memory transfer rate, bytes/s.
    package var memoryBytesPerSecond: UInt64?
    /// The guest's pause at the switch-over, ms (a completed migration's).
    package var downtimeMs: UInt64?

    package init(kind: Kind, timeElapsedMs: UInt64? = nil, dataTotal: UInt64? = nil, dataProcessed: UInt64? = nil,
                 dataRemaining: UInt64? = nil, memoryBytesPerSecond: UInt64? = nil, downtimeMs: UInt64? = nil) {
        self.kind = kind
        self.timeElapsedMs = timeElapsedMs
        self.dataTotal = dataTotal
        self.dataProcessed = dataProcessed
        self.dataRemaining = dataRemaining
        self.memoryBytesPerSecond = memoryBytesPerSecond
        self.downtimeMs = downtimeMs
    }
}
