package import ArgumentParser
import Foundation
import Migration

/// `smig-attest vms`: which VM runs where; `--recover` repairs after a crash first.
package struct VMsCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "vms",
        abstract: "List the VMs in the inventory with their host and state.",
        discussion: """
            With --recover, first brings every VM back to exactly one running copy: an open \
            migration whose target already runs is finished (source stopped); otherwise it is \
            rolled back (transfer cancelled, target stopped, source resumed). A VM whose process lives but whose \
            QMP socket does not answer in time is reported "slow" and left as it is (never "lost"); run again later.

            With --store postgresql://… --region FILE, lists the region's inventory in the store the RC-TCBs share \
            (`rctcb serve --store`), as the leader keeps it. (--recover there acts from this machine; on a region with \
            RC-TCBs, leave recovery to the leader, which runs it when it takes over.)
            """)

    @OptionGroup package var options: MigrationStateOptions

    @Flag(name: .long, help: "Repair the state left by an interrupted migration before listing.")
    package var recover = false

    package init() {}

    struct Line: Codable {
        var name: String
        var host: String
        var state: String
        var memoryMiB: Int
        var migration: String?
    }

    struct Listing: Codable {
        var recovery: [Recovery.Action]?
        var vms: [Line]
    }

    package func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        let recover = self.recover
        let (actions, lines) = try await options.withOrchestrator { orchestrator in
            let actions = recover ? try await Recovery(orchestrator: orchestrator).run() : nil
            let open = try await orchestrator.inventory.openMigrations()
            let lines = try await orchestrator.inventory.vms().map { r in
                Line(name: r.name, host: r.host, state: r.state.rawValue, memoryMiB: r.description.memoryMiB,
                     migration: open.first { $0.vm == r.name }.map { "\($0.source) -> \($0.target) at \($0.step.rawValue)" })
            }
            return (actions, lines)
        }
        if options.json {
            print(try Output.jsonString(Listing(recovery: actions, vms: lines)))
        } else {
            if let actions {
                for a in actions { print("recover: \(a.vm) on \(a.host): \(a.action) (\(a.detail))") }
            }
            print(Output.table(["VM", "HOST", "STATE", "MEMORY", "MIGRATION"],
                                        lines.map { [$0.name, $0.host, $0.state, "\($0.memoryMiB) MiB", $0.migration ?? "-"] }))
        }
        if let actions, !Recovery.succeeded(actions) {
            throw MigrationError(.wrongState, side: .orchestrator, "recovery left VMs without a running copy: "
                + actions.filter { ["failed", "lost", "slow"].contains($0.action) }.map { "\($0.vm) \($0.action)" }.joined(separator: ", "))
        }
    }
}
