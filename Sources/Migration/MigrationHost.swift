/// A named place VMs run on: a loopback (or real) address, a port range for incoming
/// migrations and a state directory (QMP sockets, pid files, logs).
///
/// Several hosts may share one machine: they differ by port range and state directory.
package struct MigrationHost: Codable, Sendable, Hashable {
    /// Which driver moves VMs on this host.
    package enum Kind: String, Codable, Sendable, CaseIterable {
        case qemu
        case xen
        /// The host's own agent moves its VMs, on the RC-TCB's orders, with the host's VM manager (libvirt): the RC-TCB
        /// holds no hypervisor credentials for it. Its port range only bounds how many moves into it run at once (the
        /// VM manager picks the real ports).
        case agent
    }

    package var name: String
    package var kind: Kind
    package var address: String
    package var portLow: Int
    package var portHigh: Int
    package var stateDirectory: String

    package init(name: String, kind: Kind = .qemu, address: String, portLow: Int, portHigh: Int, stateDirectory: String) {
        self.name = name
        self.kind = kind
        self.address = address
        self.portLow = portLow
        self.portHigh = portHigh
        self.stateDirectory = stateDirectory
    }

    package var ports: ClosedRange<Int> { portLow...portHigh }

    /// Throws `invalidArgument` unless name, address, ports and directory are usable.
    package func validate() throws {
        try VMDescription.validateName(name, what: "host name")
        let addressChars = Set("0123456789abcdefABCDEF.:")
        guard !address.isEmpty, address.count <= 64, address.allSatisfy({ addressChars.contains($0) }) else {
            throw MigrationError(.invalidArgument, "host address '\(address)' is not a numeric IPv4/IPv6 address")
        }
        guard portLow >= 1024, portHigh <= 65535, portLow <= portHigh else {
            throw MigrationError(.invalidArgument, "port range \(portLow)-\(portHigh) must lie within 1024-65535, low <= high")
        }
        guard stateDirectory.hasPrefix("/"), !stateDirectory.contains(",") else {
            throw MigrationError(.invalidArgument, "state directory '\(stateDirectory)' must be an absolute path without commas")
        }
    }

    /// Parses "LOW-HIGH" (e.g. "47000-47099").
    package static func parsePorts(_ text: String) throws -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low <= high else {
            throw MigrationError(.invalidArgument, "port range '\(text)' is not LOW-HIGH")
        }
        return low...high
    }
}

extension MigrationHost {
    /// True if a process of this machine could listen on `port` of the host's address now (nothing listens there and
    /// it can be bound): where a target QEMU may wait for an incoming migration.
    package func canListen(on port: Int) -> Bool {
        !ProcessSupport.portInUse(address: address, port: port)
    }
}
