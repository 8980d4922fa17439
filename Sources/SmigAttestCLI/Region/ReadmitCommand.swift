package import ArgumentParser
import Foundation
package import RegionTCB
import TPMWire

extension RCTCBCommand {
    /// `smig-attest rctcb readmit HOST [--same-ek | --ek-cert-sha256 HEX | --any-ek]`.
    package struct Readmit: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Let a revoked host, or a host whose AK changed, enrol again, and say which EK may enrol as it.",
            discussion: """
            Forgets the host's enrolled AK and lifts its revocation. A host id is bound to the EK it enrolled with, \
            so by default (--same-ek) only that EK may enrol as the host again: a stranger's TPM, even one certified \
            by a trusted EK CA, is refused (enrol.ek-not-allowed). When the host's TPM was replaced, name the new \
            EK by the SHA-256 of its certificate (--ek-cert-sha256 HEX: `sha256sum STATE_DIR/ek-rsa.der` on the \
            host, after `tpm provision`), or allow any EK certified by a trusted EK CA (--any-ek; the first TPM to \
            enrol becomes the host). A host whose EK the region policy pins (ek-cert-sha256, ek-name) enrols only \
            with that EK, whatever is allowed here. The readmission and what it allows are an audit event.
            """)

        @OptionGroup var target: HostInRegion
        @Flag(name: .customLong("same-ek"), help: "Only the EK the host enrolled with may enrol (the default).") var sameEK = false
        @Flag(name: .customLong("any-ek"), help: "Any EK certified by a trusted EK CA may enrol as the host.") var anyEK = false
        @Option(name: .customLong("ek-cert-sha256"), help: ArgumentHelp("Only the EK whose certificate (DER) has this SHA-256 may enrol.", valueName: "hex"))
        var ekCertificateSHA256: String?
        @OptionGroup var output: OutputOptions

        package init() {}

        package func validate() throws {
            guard [sameEK, anyEK, ekCertificateSHA256 != nil].filter({ $0 }).count <= 1 else {
                throw ValidationError("give one of --same-ek, --any-ek, --ek-cert-sha256")
            }
            if let hex = ekCertificateSHA256, hex.utf8.count != 64 || Hex.decode(hex) == nil {
                throw ValidationError("--ek-cert-sha256 must be 64 hex digits (the SHA-256 of the EK certificate's DER)")
            }
        }

        package var allowance: EKAllowance {
            if anyEK { return .anyEK }
            if let hex = ekCertificateSHA256, let bytes = Hex.decode(hex) { return .certificateSHA256(bytes) }
            return .sameEK
        }

        /// What `--json` prints.
        struct Result: Encodable {
            var host: String
            var readmitted = true
            /// `ek-name`, `ek-cert-sha256` or `any-ek`.
            var mayEnrol: String
            var ekName: String?
            var ekCertificateSHA256: String?
            var summary: String
        }

        package func run() async throws {
            try await Output.reportingAsync {
                let recorded = try await target.store().readmit(host: target.host, allowing: allowance, now: Date())
                var result = Result(host: target.host, mayEnrol: "any-ek", summary: "\(target.host) may enrol again with \(recorded.summary)")
                switch recorded {
                case .name(let n): (result.mayEnrol, result.ekName) = ("ek-name", Hex.encode(n))
                case .certificateSHA256(let h): (result.mayEnrol, result.ekCertificateSHA256) = ("ek-cert-sha256", Hex.encode(h))
                case .anyEK, .sameEK: break
                }
                if output.json { Output.json(result) } else { Output.line(result.summary) }
            }
        }
    }
}
