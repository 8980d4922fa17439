/// Moves VMs between hosts of one hypervisor kind.
///
/// A migration runs in steps the caller drives, so that an orchestrator can record each
/// one before taking the next: `prepareTarget` (target process paused, waiting),
/// `migrate` (stream of progress; ends when the state is on the target, still paused),
/// `resume` (the target runs) and `stop` (the source is gone). `cancel` aborts an
/// unfinished transfer and leaves the source running.
package protocol MigrationDriver: Sendable {
    /// The VMs with a live process on `host`.
    func listVMs(on host: MigrationHost) async throws -> [VMListing]
    /// Starts `vm` running on `host`.
    func start(_ vm: VMDescription, on host: MigrationHost) async throws -> VMInstance
    /// Starts the receiving side of a migration of `vm` on `target`, paused, listening on `port`.
    func prepareTarget(_ vm: VMDescription, on target: MigrationHost, port: Int) async throws -> VMInstance
    /// Sends `source`'s state to `target`. The stream yields progress and finishes after the
    /// transfer completed (target still paused); it throws a `MigrationError` on failure.
    func migrate(_ vm: VMDescription, from source: VMInstance, to target: VMInstance) -> AsyncThrowingStream<MigrationProgress, any Error>
    /// Lets the (paused) target run. Returns when the hypervisor says it resumed
    /// (seconds since the epoch, hypervisor clock), if it tells.
    @discardableResult
    func resume(_ instance: VMInstance) async throws -> Double?
    /// Aborts an unfinished migration out of `source`; the source keeps (or resumes) running.
    func cancel(from source: VMInstance) async throws
    /// Pauses a running VM in place (process and memory kept; `resume` lets it run again).
    func pause(_ instance: VMInstance) async throws
    /// What the process of `instance` is doing now (`.absent` if it has no process).
    func state(of instance: VMInstance) async -> VMRunState
    /// Stops the process of `instance` (gracefully, then by force) and removes its files.
    func stop(_ instance: VMInstance) async throws
    /// Where `vm` lives on `host` (pid file, control socket), whether or not it runs.
    func instance(of vm: String, on host: MigrationHost, port: Int?) -> VMInstance

    /// Checks that what runs as `instance` is `vm` as described (what the hypervisor can report of it); throws
    /// a `MigrationError` on `side` when it is not, so a move stops before anything is recorded or launched.
    func verifyDescription(_ vm: VMDescription, running instance: VMInstance, side: MigrationError.Side) async throws

    /// Waits until a transfer of `vm` out of `source` that this driver set going for the inventory's open migration has
    /// ended, as the party that carries it out records it; recovery calls it before it looks at the two copies, so it
    /// never judges a VM in flight. A transfer the hypervisor runs on its own (QEMU's, which recovery reads as
    /// `postmigrate`) needs nothing: the default returns at once.
    func awaitOrderedTransfer(of vm: String, from source: VMInstance) async
}

extension MigrationDriver {
    package func awaitOrderedTransfer(of vm: String, from source: VMInstance) async {}
}

/// One copy of a VM on one host.
package struct VMInstance: Codable, Sendable, Hashable {
    package var vm: String
    package var host: String
    /// Control socket (QMP) path, or the domain name for Xen.
    package var controlPath: String
    package var pidFile: String
    package var logFile: String
    /// Incoming migration port (targets only).
    package var port: Int?
    package var address: String

    package init(vm: String, host: String, controlPath: String, pidFile: String, logFile: String, port: Int?, address: String) {
        self.vm = vm
        self.host = host
        self.controlPath = controlPath
        self.pidFile = pidFile
        self.logFile = logFile
        self.port = port
        self.address = address
    }
}

/// Run state of one VM copy, as the hypervisor reports it.
package enum VMRunState: Sendable, Hashable, CustomStringConvertible {
    /// No process.
    case absent
    case running
    /// Paused by us or by `-S`, not part of a migration.
    case paused
    /// Target waiting for (or receiving) an incoming migration.
    case incoming
    /// Source after a completed outgoing migration.
    case postMigrate
    /// Process alive but its control channel does not answer sensibly.
    case unresponsive(String)
    case other(String)

    package var description: String {
        switch self {
        case .absent: "absent"
        case .running: "running"
        case .paused: "paused"
        case .incoming: "incoming"
        case .postMigrate: "postmigrate"
        case .unresponsive(let why): "unresponsive (\(why))"
        case .other(let s): s
        }
    }

    package var hasProcess: Bool {
        if case .absent = self { return false }
        return true
    }
}

/// One line of `listVMs`.
package struct VMListing: Codable, Sendable, Hashable {
    package var name: String
    package var pid: Int32
    package var state: String

    package init(name: String, pid: Int32, state: String) {
        self.name = name
        self.pid = pid
        self.state = state
    }
}

/// A snapshot of a running migration.
package struct MigrationProgress: Codable, Sendable, Hashable {
    /// Hypervisor's status word (`setup`, `active`, `device`, `completed`, ...).
    package var status: String
    package var transferredBytes: UInt64
    package var remainingBytes: UInt64
    package var totalBytes: UInt64
    /// Hypervisor-reported total time in ms (set when completed).
    package var totalTimeMs: UInt64?
    /// Hypervisor-reported downtime in ms (expected while active, actual when completed).
    package var downtimeMs: UInt64?
    /// When the hypervisor paused the source for the final copy (seconds since the epoch).
    package var sourcePausedAt: Double?

    package init(status: String, transferredBytes: UInt64 = 0, remainingBytes: UInt64 = 0, totalBytes: UInt64 = 0, totalTimeMs: UInt64? = nil, downtimeMs: UInt64? = nil) {
        self.status = status
        self.transferredBytes = transferredBytes
        self.remainingBytes = remainingBytes
        self.totalBytes = totalBytes
        self.totalTimeMs = totalTimeMs
        self.downtimeMs = downtimeMs
    }

    package var isCompleted: Bool { status == "completed" }
}
