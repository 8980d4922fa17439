import Foundation
import Migration
package import RegionProtocol

/// What the agent reports of a Xen dom0's domains: `xl list -l` (JSON: name, UUID, vCPUs, memory, as the toolstack
/// built each domain) joined by domain id with `xl list` (the run-state flags `r b p s c d`, which the JSON lacks).
///
/// Domain 0 is the host itself, not a VM. `NAME--incoming` (a migration arriving) and `NAME--migratedaway` (one that
/// left, about to be destroyed) are xl's names for the two halves of a migration in flight, not VMs of their own. A
/// domain with no memory yet is still being built by `xl create` (paused meanwhile): it is reported once it exists.
package enum XLDomains {
    /// One element of `xl list -l`'s JSON array (only the fields the report needs; xl writes many more).
    struct Entry: Decodable {
        struct Config: Decodable {
            struct CInfo: Decodable {
                var name: String?
                var uuid: String?
            }
            struct BInfo: Decodable {
                var max_vcpus: Int?
                var max_memkb: Int?
                var target_memkb: Int?
            }
            var c_info: CInfo?
            var b_info: BInfo?
        }
        var domid: Int?
        var config: Config?
    }

    /// The suffixes xl gives the two ends of a migration in flight.
    static let transientSuffixes = ["--incoming", "--migratedaway"]

    /// The domains of `xl list -l` (`json`) and `xl list` (`table`), dom0 and migrations in flight left out; a domain
    /// `xl list -l` has no configuration for is reported from the table alone. Text that is not what xl writes is
    /// `order.failed` naming the command.
    package static func parse(json: String, table: String) throws(MigrationOrderError) -> [HostVM] {
        let rows: [XenXLDriver.Domain]
        do { rows = try XenXLDriver.parseList(table) } catch {
            throw MigrationOrderError(.failed, "xl list: \(error)")
        }
        let entries: [Entry]
        do {
            // `xl list -l` prints nothing at all (not `[]`) when dom0 is alone... and `[]` on some builds.
            let text = json.trimmingCharacters(in: .whitespacesAndNewlines)
            entries = text.isEmpty ? [] : try JSONDecoder().decode([Entry].self, from: Data(text.utf8))
        } catch {
            throw MigrationOrderError(.failed, "xl list -l did not print a JSON array of domains: \(error)")
        }
        var byId: [Int: Entry] = [:]
        for entry in entries { if let id = entry.domid { byId[id] = entry } }
        return rows.filter { row in row.id != 0 && row.memoryMiB > 0 && !transientSuffixes.contains { row.name.hasSuffix($0) } }.map { row in
            let config = byId[row.id]?.config
            let kib = config?.b_info?.max_memkb ?? config?.b_info?.target_memkb
            return HostVM(name: row.name, uuid: config?.c_info?.uuid.flatMap(UUID.init(uuidString:)), vcpus: config?.b_info?.max_vcpus ?? row.vcpus,
                          memoryMiB: kib.map { $0 / 1024 } ?? row.memoryMiB, state: state(flags: row.state), persistent: false)
        }
    }

    /// xl's six state flags as the agent reports states (libvirt's words, which the RC-TCB reads): `p` paused, `r`
    /// running, `b` blocked (waiting, which a guest mostly is), `s` shutting-down, `c` crashed, `d` dying; none set
    /// (runnable, not scheduled now) is running.
    package static func state(flags: String) -> String {
        if flags.contains("p") { return "paused" }
        if flags.contains("c") { return "crashed" }
        if flags.contains("s") || flags.contains("d") { return "shutting-down" }
        if flags.contains("b") { return "blocked" }
        return "running"
    }
}
