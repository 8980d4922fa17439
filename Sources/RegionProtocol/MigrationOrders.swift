package import Attestation
package import Foundation
internal import CodedError

/// A migration order, RC-TCB → one host's agent (`POST /v1/orders` on the agent's listener, mutual TLS; the agent
/// takes it only from the RC-TCB's certificate). The RC-TCB holds no hypervisor credentials: it says which step of a
/// move a host takes, and the host's agent takes it with its own VM manager (libvirt, QEMU).
///
/// Fields added later are optional, so an order journaled before them reads back the same.
///
/// An order is idempotent by ``orderId``: the same id again is answered with what the agent recorded for it (never a
/// second migration); the same id with other content is refused. Orders are journaled by the agent (one file each).
package struct MigrationOrder: Codable, Hashable, Sendable {
    /// Which end of a move the receiving host is.
    package enum Role: String, Codable, Hashable, Sendable, CaseIterable {
        /// The host the VM leaves.
        case source
        /// The host the VM comes to.
        case target
    }

    /// The step asked of the receiving host.
    package enum Step: String, Codable, Hashable, Sendable, CaseIterable {
        /// Target: get ready to receive the VM, paused, and say where the source sends it (``MigrationOrderStatus/migrationAddress``).
        case prepare
        /// Source: send the VM live to ``MigrationOrder/target`` (its destination stays paused). Runs in the background;
        /// its progress is read with `GET /v1/orders/ID`.
        case migrate
        /// Let the (paused) VM run: the target after the RC-TCB re-attested it, or a VM held paused in place.
        case resume
        /// Hold the running VM paused in place.
        case pause
        /// Source: abort an unfinished migration; the VM keeps running here.
        case cancel
        /// Stop this host's copy of the VM and forget it (never the last copy: see docs/migration.md).
        case stop
    }

    /// Where the VM goes (migrate orders): the target host and where its VM manager takes incoming migrations.
    package struct Destination: Codable, Hashable, Sendable {
        package var host: String
        /// What the target's agent answered to `prepare`, e.g. `qemu+tls://10.0.0.12/system` for libvirt.
        package var migrationAddress: String

        package init(host: String, migrationAddress: String) {
            self.host = host
            self.migrationAddress = migrationAddress
        }
    }

    /// How the move may use the link, from the region policy's `migration:`.
    package struct Tuning: Codable, Hashable, Sendable {
        package var maxBandwidthMiBps: UInt64?
        package var downtimeLimitMs: UInt64?
        package var autoConverge: Bool
        /// Parallel connections for the memory (QEMU multifd); 0: one.
        package var parallelConnections: Int

        package init(maxBandwidthMiBps: UInt64? = nil, downtimeLimitMs: UInt64? = nil, autoConverge: Bool = false, parallelConnections: Int = 0) {
            self.maxBandwidthMiBps = maxBandwidthMiBps
            self.downtimeLimitMs = downtimeLimitMs
            self.autoConverge = autoConverge
            self.parallelConnections = parallelConnections
        }
    }

    /// 1-128 characters of A-Z a-z 0-9 . _ - (not starting with '.'): the agent's journal file is named after it.
    package var orderId: String
    /// The host the order is for (its agent refuses an order for another host).
    package var host: String
    /// The VM's name on the host's VM manager.
    package var vm: String
    package var role: Role
    package var step: Step
    /// Migrate orders only.
    package var target: Destination?
    /// Migrate orders only (nil: the VM manager's defaults).
    package var tuning: Tuning?
    /// Prepare orders only, for a target whose VM manager launches the receiving copy itself (QEMU): what it launches.
    /// Absent for libvirt (the migration brings the domain's definition) and in orders journaled before it existed.
    package var machine: VMMachine?

    package init(orderId: String, host: String, vm: String, role: Role, step: Step, target: Destination? = nil, tuning: Tuning? = nil,
                 machine: VMMachine? = nil) {
        self.orderId = orderId
        self.host = host
        self.vm = vm
        self.role = role
        self.step = step
        self.target = target
        self.tuning = tuning
        self.machine = machine
    }

    /// Which roles may be asked which step.
    package static func allows(_ role: Role, _ step: Step) -> Bool {
        switch step {
        case .prepare: role == .target
        case .migrate, .cancel: role == .source
        case .resume, .pause, .stop: true
        }
    }

    /// Reads an order strictly (``StrictJSON``: no duplicate keys, no unknown fields, small) and checks it: a valid
    /// order id, host id and VM name, a step the role may take, a destination exactly for `migrate`, tuning in range.
    /// Anything else is `order.malformed` with the reason.
    package static func decode(_ data: Data) throws(MigrationOrderError) -> MigrationOrder {
        let order: MigrationOrder
        do { order = try RegionJSON.decodeStrictly(MigrationOrder.self, from: data) } catch {
            throw MigrationOrderError(.malformed, "order: \(error.reason)")
        }
        try order.validate()
        return order
    }

    /// Throws `order.malformed` for anything an agent must not act on.
    package func validate() throws(MigrationOrderError) {
        func bad(_ reason: String) -> MigrationOrderError { MigrationOrderError(.malformed, "order \(orderId.prefix(128)): \(reason)") }
        guard Self.isValidOrderID(orderId) else {
            throw MigrationOrderError(.malformed, "order id must be 1-128 characters of A-Z a-z 0-9 . _ - not starting with '.'")
        }
        guard HostID.isValid(host) else { throw bad("host '\(host)' is not a host id") }
        guard Self.isValidVMName(vm) else { throw bad("VM name must be 1-64 characters of A-Z a-z 0-9 . _ - not starting with '.' or '-'") }
        guard Self.allows(role, step) else { throw bad("a \(role.rawValue) is never asked to \(step.rawValue)") }
        switch (step, target) {
        case (.migrate, nil): throw bad("a migrate order names its target")
        case (.migrate, let t?):
            guard HostID.isValid(t.host), t.host != host else { throw bad("target host '\(t.host)' is not another host's id") }
            guard (1...512).contains(t.migrationAddress.utf8.count), t.migrationAddress.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline }) else {
                throw bad("the target's migration address must be 1-512 printable ASCII characters")
            }
        case (_, .some): throw bad("only a migrate order names a target")
        default: break
        }
        if let tuning {
            guard step == .migrate else { throw bad("only a migrate order carries tuning") }
            if let b = tuning.maxBandwidthMiBps, !(1...(1 << 30)).contains(b) { throw bad("bandwidth must be 1 MiB/s or more") }
            if let d = tuning.downtimeLimitMs, !(1...600_000).contains(d) { throw bad("downtime limit must be 1 ms to 10 min") }
            guard (0...255).contains(tuning.parallelConnections) else { throw bad("parallel connections must be 0 to 255") }
        }
        if let machine {
            guard step == .prepare else { throw bad("only a prepare order describes the VM's machine") }
            if let reason = machine.problem { throw bad(reason) }
        }
    }

    package static func isValidOrderID(_ id: String) -> Bool {
        (1...128).contains(id.utf8.count) && id.utf8.first != UInt8(ascii: ".") && id.utf8.allSatisfy(Self.nameByte)
    }

    package static func isValidVMName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count) && name.utf8.first != UInt8(ascii: ".") && name.utf8.first != UInt8(ascii: "-")
            && name.utf8.allSatisfy(Self.nameByte)
    }

    static func nameByte(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2E || c == 0x5F || c == 0x2D
    }
}

/// What a VM manager that launches the receiving copy of a VM itself (QEMU) must know of it, exactly as the running
/// copy has it: a migration needs the same machine, memory, vCPUs and disk on both sides. The source's agent reports it
/// (``HostVM/machine``); the RC-TCB passes it on in the target's `prepare` order.
package struct VMMachine: Codable, Hashable, Sendable {
    /// QEMU's machine type, e.g. `pc-i440fx-7.2` (the versioned name: the target must not pick a newer one).
    package var machineType: String
    package var memoryMiB: Int
    package var vcpus: Int
    /// The raw boot image, an absolute path that names the same image on every host (shared storage or a copy).
    package var bootImage: String

    package init(machineType: String, memoryMiB: Int, vcpus: Int, bootImage: String) {
        self.machineType = machineType
        self.memoryMiB = memoryMiB
        self.vcpus = vcpus
        self.bootImage = bootImage
    }

    /// Why an agent must not launch this (nil: it may try): the values are passed to a hypervisor's command line.
    package var problem: String? {
        let machineBytes = machineType.utf8
        guard (1...64).contains(machineBytes.count), machineBytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E || $0 == 0x5F }) else {
            return "machine type must be 1-64 characters of a-z 0-9 - . _"
        }
        guard (1...65536).contains(memoryMiB) else { return "memory must be 1 to 65536 MiB" }
        guard (1...64).contains(vcpus) else { return "vCPUs must be 1 to 64" }
        let path = bootImage.utf8
        guard (2...4096).contains(path.count), path.first == UInt8(ascii: "/"), path.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ",") }),
              !bootImage.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            return "boot image must be an absolute path of printable ASCII without commas, spaces, '.' or '..' components"
        }
        return nil
    }
}

/// An agent's answer about one order (to `POST /v1/orders` and `GET /v1/orders/ID`): what it recorded.
package struct MigrationOrderStatus: Codable, Hashable, Sendable {
    package enum State: String, Codable, Hashable, Sendable {
        /// Taken and running (a migration in progress).
        case running
        /// Done.
        case done
        /// Failed; ``error`` says why. The same order id is not tried again.
        case failed
        /// The agent stopped while the order ran; what the VM manager says now is in ``vmState``.
        case interrupted
    }

    /// A snapshot of a running migration, as the VM manager reports it.
    package struct Progress: Codable, Hashable, Sendable {
        /// `active`, `completed`, ...
        package var status: String
        package var transferredBytes: UInt64
        package var remainingBytes: UInt64
        package var totalBytes: UInt64
        package var totalTimeMs: UInt64?
        package var downtimeMs: UInt64?

        package init(status: String, transferredBytes: UInt64 = 0, remainingBytes: UInt64 = 0, totalBytes: UInt64 = 0,
                     totalTimeMs: UInt64? = nil, downtimeMs: UInt64? = nil) {
            self.status = status
            self.transferredBytes = transferredBytes
            self.remainingBytes = remainingBytes
            self.totalBytes = totalBytes
            self.totalTimeMs = totalTimeMs
            self.downtimeMs = downtimeMs
        }
    }

    package var order: MigrationOrder
    package var state: State
    /// When the agent took the order and last changed this record (its clock).
    package var acceptedAt: Date
    package var updatedAt: Date
    package var progress: Progress?
    /// `prepare` only: where the source's VM manager sends the VM.
    package var migrationAddress: String?
    /// The VM's state on this host after the step (``HostVM/state``), when the VM manager knows it.
    package var vmState: String?
    package var error: RegionErrorBody?

    package init(order: MigrationOrder, state: State, acceptedAt: Date, updatedAt: Date, progress: Progress? = nil,
                 migrationAddress: String? = nil, vmState: String? = nil, error: RegionErrorBody? = nil) {
        self.order = order
        self.state = state
        self.acceptedAt = acceptedAt
        self.updatedAt = updatedAt
        self.progress = progress
        self.migrationAddress = migrationAddress
        self.vmState = vmState
        self.error = error
    }
}

/// One VM as its host's agent reports it (`GET /v1/vms` on the agent, RC-TCB certificate only): what the host's VM
/// manager says, not what anyone started.
package struct HostVM: Codable, Hashable, Sendable {
    package var name: String
    /// The VM manager's UUID (libvirt's domain UUID), when it has one.
    package var uuid: UUID?
    package var vcpus: Int
    package var memoryMiB: Int
    /// `running`, `paused`, `shut-off`, ... (libvirt's states, as ``Libvirt`` names them); a QEMU host also reports
    /// `inmigrate` (waiting for or receiving a migration), `postmigrate` (a source whose transfer completed: paused,
    /// its state sent) and `unresponsive` (the process lives, its monitor did not answer).
    package var state: String
    /// Defined on the host (it stays when it stops).
    package var persistent: Bool
    /// What a target must launch to receive it, from VM managers that need it (QEMU); nil for libvirt.
    package var machine: VMMachine?

    package init(name: String, uuid: UUID?, vcpus: Int, memoryMiB: Int, state: String, persistent: Bool, machine: VMMachine? = nil) {
        self.name = name
        self.uuid = uuid
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
        self.state = state
        self.persistent = persistent
        self.machine = machine
    }
}

/// An agent's report of its VMs.
package struct HostVMReport: Codable, Hashable, Sendable {
    package var host: String
    /// `libvirt`, `qemu`, ... (the agent configuration's `vmManager`).
    package var vmManager: String
    package var vms: [HostVM]
    package var at: Date
    /// What the host has for VMs, as its VM manager reports it; absent where the manager does not say (an older agent).
    package var capacity: HostCapacity?

    package init(host: String, vmManager: String, vms: [HostVM], at: Date, capacity: HostCapacity? = nil) {
        self.host = host
        self.vmManager = vmManager
        self.vms = vms
        self.at = at
        self.capacity = capacity
    }
}

/// A host's room for VMs as its VM manager reports it (libvirt: the node's logical CPUs and memory): what the RC-TCB
/// places VMs against where the region policy gives the host no `capacity`.
package struct HostCapacity: Codable, Hashable, Sendable {
    package var vcpus: Int
    package var memoryMiB: Int

    package init(vcpus: Int, memoryMiB: Int) {
        self.vcpus = vcpus
        self.memoryMiB = memoryMiB
    }
}

/// Why an agent refused or failed an order: a stable code (`order.*`) and one line.
package struct MigrationOrderError: CodedError {
    package struct Code: ErrorCode {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        /// Not an order: bad JSON, an unknown field, an invalid id, name or combination.
        package static let malformed = Code(rawValue: "order.malformed")
        /// The client certificate is not the RC-TCB's (a ring peer's, an operator's, none).
        package static let forbidden = Code(rawValue: "order.forbidden")
        /// The order is addressed to another host.
        package static let wrongHost = Code(rawValue: "order.wrong-host")
        /// An order with this id was taken before with other content.
        package static let conflict = Code(rawValue: "order.conflict")
        /// No order with this id was taken.
        package static let unknown = Code(rawValue: "order.unknown")
        /// This agent has no VM manager configured (`vmManager` in agent.json).
        package static let noVMManager = Code(rawValue: "order.no-vm-manager")
        /// The agent cannot write its order journal.
        package static let journal = Code(rawValue: "order.journal")
        /// The VM manager failed the step (its message says how).
        package static let failed = Code(rawValue: "order.failed")
    }

    package var code: Code
    package var message: String

    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    package var description: String { "\(code): \(message)" }
    package var body: RegionErrorBody { RegionErrorBody(code: code.rawValue, message: message) }
}

extension RegionJSON {
    /// Decodes `T` strictly: ``StrictJSON`` first (no duplicate key, at most ``StrictJSON/Limits/small``), then the
    /// decoder, then every field of the document must be one `T` knows (a field it would ignore is refused at its path).
    package static func decodeStrictly<T: Codable>(_ type: T.Type, from data: Data) throws(Failure) -> T {
        let document: StrictJSON.Value
        do { document = try StrictJSON.parse(data, limits: .small) } catch { throw Failure(reason: "\(error.code): \(error.reason)") }
        let value = try decode(T.self, from: data)
        do {
            try StrictJSON.checkFields(document, against: try StrictJSON.parse(encode(value), limits: .small))
        } catch {
            throw Failure(reason: "\(error.code): \(error.reason)")
        }
        return value
    }
}
