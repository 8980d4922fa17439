package import ArgumentParser
import Foundation
import RegionTCB

extension RCTCBCommand {
    /// `smig-attest rctcb certs --dir DIR [--json]`.
    package struct Certs: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "List the agent certificates the region CA issued, with their expiry.",
            discussion: """
            Every agent certificate issued at enrolment or renewal, by host and newest first: its serial, the AK it \
            names, when it was issued and when it expires, and whether it is CURRENT (the host's newest certificate for \
            the AK it is enrolled with, the host not revoked). Agents renew theirs when two thirds of its lifetime \
            (\(Int(RegionCA.leafValidity / 86_400)) days) have passed (agent.json renewCertificateAt). Certificates \
            issued before the RC-TCB recorded serials show `enrolled-before-renewal:HOST`, expiring \
            \(Int(RegionCA.leafValidity / 86_400)) days after the host's enrolment. Reads DIR's IVT; the RC-TCB may be \
            running.
            """)

        @Option(help: ArgumentHelp("The RC-TCB directory.", valueName: "dir")) var dir: String
        @OptionGroup var storeOptions: StoreOptions
        @OptionGroup var output: OutputOptions

        package init() {}

        /// One certificate as `--json` prints it.
        struct Listed: Encodable {
            var certificate: IssuedCertificate
            var daysToExpiry: Double

            func encode(to encoder: any Encoder) throws {
                try certificate.encode(to: encoder)
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(daysToExpiry, forKey: .daysToExpiry)
            }
            enum Key: String, CodingKey { case daysToExpiry }
        }

        package func run() async throws {
            try await Output.reportingAsync {
                let issued = try await storeOptions.open(RegionDirectory(dir)).certificates()
                let now = Date()
                if output.json { Output.json(issued.map { Listed(certificate: $0, daysToExpiry: ($0.daysToExpiry(now: now) * 10).rounded() / 10) }); return }
                Output.line(Output.table(["HOST", "SERIAL", "ISSUED BY", "ISSUED", "EXPIRES", "DAYS LEFT", "CURRENT"], issued.map { c in
                    [c.host, c.serial, c.issuedBy, c.issuedAt.formatted(.iso8601), c.notAfter.formatted(.iso8601),
                     String(format: "%.1f", c.daysToExpiry(now: now)), c.current ? "yes" : "no"]
                }))
            }
        }
    }
}
