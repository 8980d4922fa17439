package import ArgumentParser
import Foundation
import RegionProtocol
import RegionTCB

extension RCTCBCommand {
    /// `smig-attest rctcb accept-reboot HOST --reason TEXT --dir DIR [--rctcb URL]`.
    package struct AcceptReboot: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            commandName: "accept-reboot",
            abstract: "Accept a host's reboot: its next verified quote is trusted as the new boot, without a boot log.",
            discussion: """
            A host whose TPM was reset stays `rebooted` (reboot.boot-log-missing, eventlog.*) until its evidence \
            carries a TCG boot log that replays to the quoted boot PCRs; so does a host re-admitted and enrolled \
            again after such a reset. A host without measured boot, or one whose new firmware's log is not \
            understood yet, never gets there. After this command the running RC-TCB challenges the host, and the \
            next quote that verifies (signature by the enrolled AK, the RC-TCB's nonce, clock continuity, golden \
            values) is trusted whatever its boot log. Both steps are audit events: `accept-reboot` with the reason \
            now, `reboot-accepted` (reboot.accepted-by-operator) when a quote is trusted under it. To accept resets \
            without a boot log for good, set `boot-log: optional` on the host in the region policy. \
            host.unknown: not a host of the IVT; reboot.not-pending: no reboot waits; reboot.bad-reason: an empty \
            reason, one longer than \(RebootAcceptance.maxReason) characters, or one with control characters. Needs \
            the admin certificate of DIR.
            """)

        @OptionGroup var target: HostIDArgument
        @Option(help: ArgumentHelp("Why the reboot is accepted (kept in the audit trail).", valueName: "text")) var reason: String
        @OptionGroup var admin: AdminOptions
        @OptionGroup var output: OutputOptions

        package init() {}

        package func run() async throws {
            let host = target.host
            try await Output.reportingAsync {
                let answer = try await admin.call(OperatorRoutes.acceptReboot, RebootAcceptanceRequest(reason: reason), parameters: ["host": host])
                if output.json { Output.json(answer); return }
                Output.line("reboot of \(answer.host) accepted (event \(answer.eventSeq)): its next verified quote is trusted as the new boot")
            }
        }
    }
}
