package import ArgumentParser
import RegionProtocol
import RegionTCB

extension RCTCBCommand {
    /// `smig-attest rctcb reload --dir DIR [--rctcb URL]`.
    package struct Reload: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Reload the running RC-TCB's region policy and golden values, without a restart.",
            discussion: """
            The running RC-TCB re-reads the region policy it was started with (--region) and every golden-values file \
            it names, and checks them first: a policy that does not parse (its code, file, line and column), or that \
            changes what only a restart applies (hosts, endpoints, the ring, intervals, targets, migration, \
            evacuation, webhooks, EK pins: policy.reload-needs-restart), is refused and the running policy stays in \
            force. A reload applies golden values and the hosts' `boot-log:`; it takes effect for every judgement \
            that starts after it, and the hosts whose golden values changed are challenged at once. Applied or \
            refused, each reload is an audit event (`events`) with \
            the policy's digest (SHA-256 over the region file and its golden files); each IVT row records the digest \
            its latest verdict was judged under. SIGHUP to the `rctcb serve` process (the unit's ExecReload) does \
            the same. Needs the admin certificate of DIR.
            """)

        @OptionGroup var admin: AdminOptions
        @OptionGroup var output: OutputOptions

        package init() {}

        package func run() async throws {
            try await Output.reportingAsync {
                let outcome = try await admin.call(OperatorRoutes.policyReload)
                if output.json { Output.json(outcome); return }
                Output.line("reloaded: policy \(outcome.digest) (was \(outcome.previousDigest))")
                Output.line(outcome.goldenChanged.isEmpty ? "golden values unchanged"
                            : "golden values changed for \(outcome.goldenChanged.joined(separator: ", ")): challenged now")
            }
        }
    }
}
