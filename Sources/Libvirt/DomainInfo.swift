internal import CLibvirt
package import Foundation

/// What a domain is doing (`virDomainState`).
package enum DomainState: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case noState = "no-state"
    case running
    /// Blocked on a resource (virsh: "idle").
    case blocked
    case paused
    /// Being shut down (virsh: "in shutdown").
    case shuttingDown = "shutting-down"
    case shutOff = "shut-off"
    case crashed
    /// Suspended by guest power management.
    case pmSuspended = "pm-suspended"

    init(_ raw: Int32) {
        switch raw {
        case Int32(VIR_DOMAIN_RUNNING.rawValue): self = .running
        case Int32(VIR_DOMAIN_BLOCKED.rawValue): self = .blocked
        case Int32(VIR_DOMAIN_PAUSED.rawValue): self = .paused
        case Int32(VIR_DOMAIN_SHUTDOWN.rawValue): self = .shuttingDown
        case Int32(VIR_DOMAIN_SHUTOFF.rawValue): self = .shutOff
        case Int32(VIR_DOMAIN_CRASHED.rawValue): self = .crashed
        case Int32(VIR_DOMAIN_PMSUSPENDED.rawValue): self = .pmSuspended
        default: self = .noState
        }
    }

    /// virsh's word for the state ("running", "paused", "shut off", ...).
    package var description: String {
        switch self {
        case .noState: "no state"
        case .running: "running"
        case .blocked: "idle"
        case .paused: "paused"
        case .shuttingDown: "in shutdown"
        case .shutOff: "shut off"
        case .crashed: "crashed"
        case .pmSuspended: "pmsuspended"
        }
    }
}

/// One domain of a host as libvirt describes it (`virDomainGetInfo` and friends), at the moment it was read.
package struct DomainInfo: Sendable, Hashable, Codable {
    package var name: String
    package var uuid: UUID
    package var state: DomainState
    /// Virtual CPUs.
    package var vcpus: Int
    /// Memory the domain has now, in KiB.
    package var memoryKiB: UInt64
    /// Memory the domain may have at most, in KiB.
    package var maxMemoryKiB: UInt64
    /// Defined on the host (it stays when it stops), as opposed to transient.
    package var persistent: Bool

    package init(name: String, uuid: UUID, state: DomainState, vcpus: Int, memoryKiB: UInt64, maxMemoryKiB: UInt64, persistent: Bool) {
        self.name = name
        self.uuid = uuid
        self.state = state
        self.vcpus = vcpus
        self.memoryKiB = memoryKiB
        self.maxMemoryKiB = maxMemoryKiB
        self.persistent = persistent
    }

    /// Reads the domain behind `domain` (blocking: call off the pool).
    static func read(_ domain: OpaquePointer) throws -> DomainInfo {
        var info = virDomainInfo()
        guard libvirt.virDomainGetInfo(domain, &info) == 0 else { throw LibvirtError.last("virDomainGetInfo", else: .callFailed) }
        let persistent = libvirt.virDomainIsPersistent(domain)
        guard persistent >= 0 else { throw LibvirtError.last("virDomainIsPersistent", else: .callFailed) }
        return DomainInfo(name: try domainName(domain), uuid: try domainUUID(domain), state: DomainState(Int32(info.state)),
                          vcpus: Int(info.nrVirtCpu), memoryKiB: UInt64(info.memory), maxMemoryKiB: UInt64(info.maxMem),
                          persistent: persistent == 1)
    }

    static func domainName(_ domain: OpaquePointer) throws -> String {
        guard let name = libvirt.virDomainGetName(domain) else { throw LibvirtError.last("virDomainGetName", else: .callFailed) }
        return String(cString: name)
    }

    static func domainUUID(_ domain: OpaquePointer) throws -> UUID {
        var buffer = [CChar](repeating: 0, count: Int(CLibvirt_UUID_STRING_BUFLEN()))
        guard libvirt.virDomainGetUUIDString(domain, &buffer) == 0 else { throw LibvirtError.last("virDomainGetUUIDString", else: .callFailed) }
        let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let uuid = UUID(uuidString: text) else {
            throw LibvirtError(.callFailed, function: "virDomainGetUUIDString", message: "not a UUID: \(text)")
        }
        return uuid
    }
}
