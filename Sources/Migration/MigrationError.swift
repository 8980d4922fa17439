/// The one error type of the `Migration` module.
///
/// `code` is stable (tests and scripts match on it); `side` says which end of a
/// migration failed (`source`, `target`, or `orchestrator` for our own bookkeeping);
/// `reason` is one human line.
public struct MigrationError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// No VM of that name in the inventory (or on the host).
        public static let unknownVM = Code(rawValue: "unknown-vm")
        /// No host of that name in the inventory.
        public static let unknownHost = Code(rawValue: "unknown-host")
        /// A VM or host of that name already exists.
        public static let alreadyExists = Code(rawValue: "already-exists")
        /// The VM description does not match what runs (or what the other side runs).
        public static let descriptionMismatch = Code(rawValue: "description-mismatch")
        /// A description, host definition or argument is not valid.
        public static let invalidArgument = Code(rawValue: "invalid-argument")
        /// The QMP peer sent bytes that are not QMP.
        public static let qmpProtocol = Code(rawValue: "qmp-protocol")
        /// The QMP peer did not answer in time.
        public static let qmpTimeout = Code(rawValue: "qmp-timeout")
        /// The QMP peer answered a command with an error.
        public static let qmpCommandFailed = Code(rawValue: "qmp-command-failed")
        /// Connecting to / talking over a socket failed.
        public static let io = Code(rawValue: "io")
        /// Starting a hypervisor process failed.
        public static let launchFailed = Code(rawValue: "launch-failed")
        /// The migration itself failed (as reported by the hypervisor).
        public static let migrationFailed = Code(rawValue: "migration-failed")
        /// The migration was cancelled.
        public static let cancelled = Code(rawValue: "cancelled")
        /// The VM is not in a state that allows the operation.
        public static let wrongState = Code(rawValue: "wrong-state")
        /// No free port in the host's port range.
        public static let noFreePort = Code(rawValue: "no-free-port")
        /// The Xen toolstack (`xl`) is not usable here (not a dom0).
        public static let xenUnavailable = Code(rawValue: "xen-unavailable")
        /// `xl` ran but failed or printed something we cannot parse.
        public static let xlFailed = Code(rawValue: "xl-failed")
        /// There is no inventory file where one was expected (a read of a state directory that was never set up).
        public static let noInventory = Code(rawValue: "no-inventory")
        /// The inventory database failed.
        public static let inventory = Code(rawValue: "inventory")
        /// A stored inventory value has the wrong type or an unknown value (the message names table, row, column).
        public static let inventoryCorrupt = Code(rawValue: "inventory-corrupt")
        /// The hypervisor binary is missing.
        public static let hypervisorMissing = Code(rawValue: "hypervisor-missing")
    }

    /// Which side of a migration the failure belongs to.
    public enum Side: String, Sendable, Codable {
        case source, target, orchestrator
    }

    public var code: Code
    public var side: Side?
    public var reason: String

    public init(_ code: Code, side: Side? = nil, _ reason: String) {
        self.code = code
        self.side = side
        self.reason = reason
    }

    public var description: String {
        if let side { return "\(code) (\(side)): \(reason)" }
        return "\(code): \(reason)"
    }

    /// The same error, attributed to `side` unless it already names one.
    public func on(_ side: Side) -> MigrationError {
        var copy = self
        if copy.side == nil { copy.side = side }
        return copy
    }
}
