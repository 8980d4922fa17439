public import ArgumentParser
import Agent
import Attestation
import Foundation
import Policy
import TPM
package import TPMWire

/// `smig-attest tpm info|provision`.
package struct TPMCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "tpm",
        abstract: "Inspect the TPM and provision its endorsement and attestation keys.",
        subcommands: [Info.self, Provision.self]
    )

    package init() {}

    /// `smig-attest tpm info`.
    package struct Info: ParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Show the TPM's manufacturer, firmware, PCR banks and loaded handles.")

        @OptionGroup package var tpm: TPMOptions
        @OptionGroup package var output: OutputOptions

        package init() {}

        package func run() throws {
            try reportingErrors {
                let device = try tpm.open()
                let info = try device.info()
                if output.json { Output.json(info); return }
                Output.line("""
                TCTI:              \(tpm.resolvedTCTI)
                manufacturer:      \(info.manufacturer) \(info.vendor)
                firmware:          \(info.firmwareVersion)
                specification:     \(info.specFamily) revision \(Double(info.specRevision) / 100)
                PCR banks:         \(info.pcrBanks.joined(separator: ", "))
                transient handles: \(info.transientHandles)
                loaded sessions:   \(info.loadedSessions)
                """)
            }
        }
    }

    /// `smig-attest tpm provision`.
    package struct Provision: ParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Create the EK, check it against its NV certificate, and create and save an attestation key.",
            discussion: """
            The EK is created from the TCG EK Credential Profile template (rsa: RSA-2048 low range, ecc384: NIST P-384 \
            high range, ecc256: NIST P-256 low range) and compared with the certificate swtpm_setup or the TPM vendor \
            stored in NV. The AK is a restricted signing key created under the EK through a PolicySecret(endorsement) \
            session, as tpm2_createak does; its blobs are saved to STATE_DIR/ak.json and it is re-loaded for every \
            quote, so nothing stays in the TPM. Also written: STATE_DIR/ak.pub (TPM2B_PUBLIC), STATE_DIR/ak.pem \
            (for tpm2_checkquote) and STATE_DIR/ek-TYPE.der (the EK certificate). \
            An existing AK is kept unless --force is given (replacing it invalidates the host's enrolment).
            """)

        @Option(help: "EK template: rsa, ecc384 or ecc256.") package var ek: EKType = .rsa2048
        @Option(help: "AK algorithm: ecc (P-256, ECDSA-SHA256) or rsa (RSA-2048, RSASSA-SHA256).") public var ak: AKType = .eccP256
        @Flag(help: "Replace an existing attestation key.") package var force = false
        @Flag(help: "Fail when the EK certificate is missing (it is always a failure when it does not match).") public var requireCertificate = false
        @OptionGroup package var tpm: TPMOptions
        @OptionGroup package var state: StateOptions
        @OptionGroup package var output: OutputOptions

        package init() {}

        /// What `--json` prints: the provisioning result and the TCTI it used, in one object.
        struct Result: Encodable {
            var tcti: String
            var provisioned: Provisioning.Result
            enum Key: String, CodingKey { case tcti }
            func encode(to encoder: any Encoder) throws {
                try provisioned.encode(to: encoder)
                var container = encoder.container(keyedBy: Key.self)
                try container.encode(tcti, forKey: .tcti)
            }
        }

        package func run() throws {
            try reportingErrors {
                let p: Provisioning.Result
                do {
                    p = try Provisioning.provision(device: try tpm.open(), store: state.keyStore, ek: ek, ak: ak,
                                                   force: force, requireCertificate: requireCertificate)
                } catch let failure as Provisioning.Failure {
                    throw CommandFailure(failure.description)
                }
                if output.json { Output.json(Result(tcti: tpm.resolvedTCTI, provisioned: p)); return }
                Output.line("""
                EK (\(ek.rawValue)):   \(p.ekName)
                EK certificate: \(p.ekCertificate)\(p.ekCertificateSubject.map { " (\($0))" } ?? "")
                AK (\(ak.rawValue)):   \(p.akName) \(p.created ? "(created)" : "(existing)")
                AK public:      \(p.akPublic) (TPM2B_PUBLIC), \(p.akPEM) (PEM)
                """)
            }
        }
    }
}

extension EKType: ExpressibleByArgument {}
extension AKType: ExpressibleByArgument {}
