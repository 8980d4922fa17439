package import ArgumentParser
import Foundation
import RegionProtocol
import RegionTCB

/// A host id argument, checked before anything is asked of the RC-TCB.
struct HostIDArgument: ParsableArguments {
    @Argument(help: "The host id.") var host: String

    func validate() throws {
        guard HostID.isValid(host) else {
            throw ValidationError("'\(host.prefix(64))' is not a host id (lower-case letters, digits, '.', '_' and '-')")
        }
    }
}

/// `smig-attest host …`: one host as the RC-TCB knows it.
package struct HostCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Show one host as the RC-TCB knows it: its IVT row, its history, why it failed, the evidence kept.",
        subcommands: [Show.self])

    package init() {}

    /// `smig-attest host show HOST [--evidence] [--json]`.
    package struct Show: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Show a host's IVT row, its state history, the failing measurement and the evidence kept.",
            discussion: """
            The history is the host's audit trail (its newest \(HostReport.historyLimit) events: state changes, \
            enrolments, revocations, readmissions, accepted reboots, refusals). When the host is not trusted, FAILURE \
            names the code and, for golden-value failures, each measurement or PCR that failed (its source, name, PCR, \
            bank and the value found), read from the evidence the RC-TCB kept with that verdict. The RC-TCB keeps \
            the evidence bundle behind every change of a host's state and its newest \(EvidenceRetention.recent) \
            bundles whatever they led to, at most \(EvidenceRetention.perHost) per host; EVIDENCE lists them, newest \
            first. --evidence adds the bundles themselves (the quote, the PCR values, the measurement and boot logs) \
            as JSON. A host id that is not in the IVT is host.unknown. Needs the admin certificate of DIR.
            """)

        @OptionGroup var target: HostIDArgument
        @OptionGroup var admin: AdminOptions
        @Flag(help: "Include the evidence bundles kept (quote, PCR values, logs) as JSON.") var evidence = false
        @OptionGroup var output: OutputOptions

        package init() {}

        package func run() async throws {
            let host = target.host
            try await Output.reportingAsync {
                let report = try await admin.call(OperatorRoutes.host, parameters: ["host": host], query: evidence ? "evidence=true" : nil)
                if output.json { Output.json(report); return }
                Output.line(Self.render(report, now: Date()))
                if evidence {
                    for kept in report.evidence {
                        guard let bundle = kept.bundle else { continue }
                        Output.line("\nevidence \(kept.seq) (\(kept.at.formatted(.iso8601)), \(kept.verdict.rawValue)):")
                        Output.json(bundle)
                    }
                }
            }
        }

        /// The report as text: the row, the failure, the history, the evidence kept.
        static func render(_ r: HostReport, now: Date) -> String {
            let row = r.row
            var lines = [
                "host:         \(row.host) (\(row.address))",
                "state:        \(row.state.rawValue)\(row.verdictState.map { $0 != row.state ? " (latest verdict: \($0.rawValue))" : "" } ?? "")",
                "enrolled:     \(row.akName.map { "AK \($0)\(row.enrolledAt.map { " at \($0.formatted(.iso8601))" } ?? "")" } ?? "no")\(row.revoked ? ", revoked" : "")",
                "last quote:   \(row.lastQuoteAt.map { "\(Int(now.timeIntervalSince($0))) s ago by \(row.measuredBy ?? "-")" } ?? "none")",
                "policy:       \(row.policyDigest ?? "-")",
            ]
            if let f = r.failure {
                lines.append("failure:      \(f.code)\(f.detail.map { ": \($0)" } ?? "")")
                for m in f.measurements {
                    let subject = [m.source, m.measurement.map { "'\($0)'" }, m.pcr.map { "PCR \($0)\(m.bank.map { " (\($0))" } ?? "")" }]
                        .compactMap { $0 }.joined(separator: " ")
                    lines.append("  \(m.kind): \(subject)\(m.actual.map { " = \($0)" } ?? ""): \(m.detail)")
                }
            }
            lines.append("\nhistory:")
            lines.append(Output.table(["SEQ", "AT", "KIND", "CHANGE", "CODE", "DETAIL"], r.history.map { e in
                ["\(e.seq)", e.at.formatted(.iso8601), e.kind, e.oldState.map { "\($0) → \(e.newState ?? "")" } ?? "", e.code ?? "", e.detail ?? ""]
            }))
            lines.append("\nevidence kept (newest first):")
            lines.append(Output.table(["SEQ", "AT", "VERDICT", "CHANGED", "BY", "CODE"], r.evidence.map { e in
                ["\(e.seq)", e.at.formatted(.iso8601), e.verdict.rawValue, e.stateChanged ? "yes" : "no", e.measuredBy ?? "-", e.code ?? ""]
            }))
            return lines.joined(separator: "\n")
        }
    }
}
