package import ArgumentParser
import Foundation
import RegionProtocol
import RegionTCB

/// `smig-attest migrate VM --to HOST`: a live migration the RC-TCB gates.
package struct MigrateCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Live-migrate a VM to another host, gated by the RC-TCB's attestation of that host.",
        discussion: """
            The RC-TCB (admin certificate from --dir) moves the VM only if the target is `trusted` with a quote \
            younger than the policy's targets.max-quote-age, passes a challenge now, and — after the transfer, \
            with the VM still paused there — attests again. Only then does the VM resume on the target. A \
            stale, untrusted, unknown, excluded or full target is refused with its code (migrate.target-*), and \
            nothing moves. Migration parameters (bandwidth, downtime limit, multifd, auto-converge) come from \
            the region policy's `migration:` section. Every step is an audit event (smig-attest events).
            """)

    @OptionGroup var admin: AdminOptions
    @Argument(help: "VM to move.") var vm: String
    @Option(help: "Target host (an id of the region policy).") var to: String
    @OptionGroup var output: OutputOptions

    package init() {}

    package func run() async throws {
        try await Output.reportingAsync {
            let outcome = try await admin.call(OperatorRoutes.migrations, MigrationRequest(vm: vm, target: to))
            if output.json { Output.json(outcome); return }
            let f = { (v: Double?) in v.map { String(format: "%.1f ms", $0) } ?? "-" }
            Output.line("\(outcome.vm): \(outcome.source) -> \(outcome.target ?? "-") (\(outcome.result.rawValue)); target attested before and after the transfer")
            Output.line("  transfer \(f(outcome.transferMs)), total \(f(outcome.totalMs))")
        }
    }
}
