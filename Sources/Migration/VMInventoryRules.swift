import Foundation

/// The inventory's rules and messages, the same on both backends (``VMInventory`` in SQLite, the PostgreSQL
/// inventory): each backend reads the rows inside its write transaction and asks these what to refuse, so an
/// orchestrator sees the same codes and words whichever it runs on.
package enum VMInventoryRules {
    package static func unknownHost(_ name: String) -> MigrationError {
        MigrationError(.unknownHost, "no host named '\(name)' in the inventory")
    }

    package static func unknownVM(_ name: String) -> MigrationError {
        MigrationError(.unknownVM, "no VM named '\(name)' in the inventory")
    }

    package static func notOpen(_ id: Int64) -> MigrationError {
        MigrationError(.inventory, side: .orchestrator, "migration \(id) is not open")
    }

    /// Refuses `host` when a host of its name exists, or when its ports overlap those of another host on this
    /// machine (an agent host's range is a count of moves into it, not ports).
    package static func checkNew(_ host: MigrationHost, among others: [MigrationHost]) throws {
        if others.contains(where: { $0.name == host.name }) {
            throw MigrationError(.alreadyExists, "host \(host.name) already exists")
        }
        for other in others where other.kind != .agent && host.kind != .agent && other.ports.overlaps(host.ports) {
            throw MigrationError(.invalidArgument, "ports \(host.portLow)-\(host.portHigh) overlap host \(other.name)'s \(other.portLow)-\(other.portHigh)")
        }
    }

    /// Refuses to remove host `name` while `vms` are recorded on it or `open` migrations (their VMs) name it.
    package static func checkRemovable(_ name: String, vms: [String], open: [String]) throws {
        guard vms.isEmpty else {
            throw MigrationError(.wrongState, "host \(name) still has VMs: \(vms.joined(separator: ", ")) (hint: `smig-attest vm stop VM` or migrate them first)")
        }
        guard open.isEmpty else {
            throw MigrationError(.wrongState, "host \(name) is part of open migrations of \(open.joined(separator: ", ")) (hint: `smig-attest vms --recover` finishes or rolls them back)")
        }
    }

    /// Refuses to open a migration of `vm` (recorded `state` on `host`) from `source` unless it runs, or is held
    /// paused, there; `open` describes its open migration if it has one.
    package static func checkMovable(_ vm: String, host: String, state: VMRecord.State, source: String, open: String?) throws {
        if state == .migrating {
            throw MigrationError(.wrongState, side: .source, "VM \(vm) has an open migration (\(open ?? "no open row")) (hint: `smig-attest vms --recover` finishes or rolls it back)")
        }
        guard host == source, state == .running || state == .paused else {
            throw MigrationError(.wrongState, side: .source, "VM \(vm) is \(state.rawValue) on \(host), not running on \(source)")
        }
    }

    package static func portTaken(_ port: Int, target: String) -> MigrationError {
        MigrationError(.noFreePort, side: .target, "port \(port) on \(target) is reserved by another migration")
    }

    /// A stored VM description (JSON) for VM `name`; nil when it is not a valid description of that VM.
    package static func decode(description json: String, of name: String) -> Result<VMDescription, DescriptionProblem> {
        let description: VMDescription
        do {
            description = try JSONDecoder().decode(VMDescription.self, from: Data(json.utf8))
            try description.validate()
        } catch {
            return .failure(DescriptionProblem(text: "not a valid VM description"))
        }
        guard description.name == name else { return .failure(DescriptionProblem(text: "describes VM '\(description.name)', not '\(name)'")) }
        return .success(description)
    }

    package struct DescriptionProblem: Error { package var text: String }

    /// `description` as the inventory stores it.
    package static func encode(_ description: VMDescription) throws -> String {
        String(decoding: try JSONEncoder().encode(description), as: UTF8.self)
    }

    /// The audit event's words for a migration that closed.
    package static func closedDetail(vm: String, state: VMRecord.State, host: String, error: String?) -> String {
        "\(vm) \(state.rawValue) on \(host)\(error.map { ": \($0)" } ?? "")"
    }

    /// The SQL list of the known outcomes, for "open or not a known outcome" (a tampered outcome must not make an open
    /// migration look closed).
    package static var knownOutcomes: String {
        MigrationRecord.Outcome.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", ")
    }
}
