internal import CodedError

/// The one error type of the `Migration` module.
///
/// `code` is stable (tests and scripts match on it); `side` says which end of a
/// migration failed (`source`, `target`, or `orchestrator` for our own bookkeeping);
/// `reason` is one human line.
package struct MigrationError: CodedError {
    package struct Code: ErrorCode {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        /// No VM of that name in the inventory (or on the host).
        package static let unknownVM = Code(rawValue: "unknown-vm")
        /// No host of that name in the inventory.
        package static let unknownHost = Code(rawValue: "unknown-host")
        /// A VM or host of that name already exists.
        package static let alreadyExists = Code(rawValue: "already-exists")
        /// The VM description does not match what runs (or what the other side runs).
        package static let descriptionMismatch = Code(rawValue: "description-mismatch")
        /// A description, host definition or argument is not valid.
        package static let invalidArgument = Code(rawValue: "invalid-argument")
        /// The QMP peer sent bytes that are not QMP.
        package static let qmpProtocol = Code(rawValue: "qmp-protocol")
        /// The QMP peer did not answer in time.
        package static let qmpTimeout = Code(rawValue: "qmp-timeout")
        /// The QMP peer answered a command with an error.
        package static let qmpCommandFailed = Code(rawValue: "qmp-command-failed")
        /// Connecting to / talking over a socket failed.
        package static let io = Code(rawValue: "io")
        /// Starting a hypervisor process failed.
        package static let launchFailed = Code(rawValue: "launch-failed")
        /// The migration itself failed (as reported by the hypervisor).
        package static let migrationFailed = Code(rawValue: "migration-failed")
        /// The migration was cancelled.
        package static let cancelled = Code(rawValue: "cancelled")
        /// The VM is not in a state that allows the operation.
        package static let wrongState = Code(rawValue: "wrong-state")
        /// No free port in the host's port range.
        package static let noFreePort = Code(rawValue: "no-free-port")
        /// The Xen toolstack (`xl`) is not usable here (not a dom0).
        package static let xenUnavailable = Code(rawValue: "xen-unavailable")
        /// `xl` ran but failed or printed something we cannot parse.
        package static let xlFailed = Code(rawValue: "xl-failed")
        /// There is no inventory file where one was expected (a read of a state directory that was never set up).
        package static let noInventory = Code(rawValue: "no-inventory")
        /// The inventory database failed.
        package static let inventory = Code(rawValue: "inventory")
        /// A stored inventory value has the wrong type or an unknown value (the message names table, row, column).
        package static let inventoryCorrupt = Code(rawValue: "inventory-corrupt")
        /// The hypervisor binary is missing.
        package static let hypervisorMissing = Code(rawValue: "hypervisor-missing")
        /// A host's agent did not answer (refused, reset, timed out) for longer than the region policy's
        /// `migration.agent-silence-limit`, while an order to it was sent again by its id or its migration followed.
        package static let agentSilent = Code(rawValue: "agent-silent")
        /// The transfer ran longer than the region policy's `migration.transfer-time-limit` (a guest that dirties memory
        /// faster than the link sends it, a link slower than planned): it was cancelled and the VM stays on the source.
        package static let transferTimeLimit = Code(rawValue: "transfer-time-limit")
    }

    /// Which side of a migration the failure belongs to.
    package enum Side: String, Sendable, Codable {
        case source, target, orchestrator
    }

    package var code: Code
    package var side: Side?
    package var reason: String

    package init(_ code: Code, side: Side? = nil, _ reason: String) {
        self.code = code
        self.side = side
        self.reason = reason
    }

    package var description: String {
        if let side { return "\(code) (\(side)): \(reason)" }
        return "\(code): \(reason)"
    }

    /// The same error, attributed to `side` unless it already names one.
    package func on(_ side: Side) -> MigrationError {
        var copy = self
        if copy.side == nil { copy.side = side }
        return copy
    }
}
