public import ArgumentParser
import Attestation
import Foundation
import Policy
import TPM
public import TPMWire

/// `smig-attest tpm info|provision`.
public struct TPMCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "tpm",
        abstract: "Inspect the TPM and provision its endorsement and attestation keys.",
        subcommands: [Info.self, Provision.self]
    )

    public init() {}

    /// `smig-attest tpm info`.
    public struct Info: ParsableCommand {
        public static let configuration = CommandConfiguration(
            abstract: "Show the TPM's manufacturer, firmware, PCR banks and loaded handles.")

        @OptionGroup public var tpm: TPMOptions
        @OptionGroup public var output: OutputOptions

        public init() {}

        public func run() throws {
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
    public struct Provision: ParsableCommand {
        public static let configuration = CommandConfiguration(
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

        @Option(help: "EK template: rsa, ecc384 or ecc256.") public var ek: EKType = .rsa2048
        @Option(help: "AK algorithm: ecc (P-256, ECDSA-SHA256) or rsa (RSA-2048, RSASSA-SHA256).") public var ak: AKType = .eccP256
        @Flag(help: "Replace an existing attestation key.") public var force = false
        @Flag(help: "Fail when the EK certificate is missing (it is always a failure when it does not match).") public var requireCertificate = false
        @OptionGroup public var tpm: TPMOptions
        @OptionGroup public var state: StateOptions
        @OptionGroup public var output: OutputOptions

        public init() {}

        struct Result: Encodable {
            var tcti: String
            var ekType: String
            var ekName: String
            var ekCertificate: String
            var ekCertificateSubject: String?
            var akType: String
            var akName: String
            var akPublic: String
            var akPEM: String
            var created: Bool
        }

        public func run() throws {
            try reportingErrors {
                let device = try tpm.open()
                let store = state.keyStore
                try prepareStateDirectory(store.directory.path)
                var created = false
                let blob: AttestationKeyBlob
                if store.exists, !force {
                    blob = try store.load()
                    guard blob.ekType == ek, blob.akType == ak else {
                        throw CommandFailure("an attestation key (\(blob.akType.rawValue) under the \(blob.ekType.rawValue) EK) already exists in \(store.directory.path); use --force to replace it")
                    }
                } else {
                    blob = try device.createAttestationKey(ak, under: ek)
                    created = true
                }
                let ekPublic = try device.withEndorsementKey(ek) { $0.publicKey }
                // A saved AK must really load under this TPM's EK (a new one was just created under it).
                if !created {
                    do {
                        _ = try device.withAttestationKey(blob) { $0.publicKey }
                    } catch {
                        throw CommandFailure("the attestation key in \(store.directory.path) does not load in this TPM (made by another TPM, or the TPM was cleared?): \(error); --force creates a new one")
                    }
                }
                let akKey = try AttestationKey(tpm2bPublic: blob.publicBytes)

                var certState = "absent"
                var subject: String?
                if let der = try device.endorsementCertificate(ek) {
                    switch EKCertificateMatch.check(ek: ekPublic, certificateDER: der) {
                    case .matches(let s, _):
                        certState = "matches"
                        subject = s
                        try writeStateFile(store.directory.appendingPathComponent("ek-\(ek.rawValue).der").path, der)
                    case .differs(let reason):
                        throw CommandFailure("EK certificate at NV 0x\(String(ek.certificateNVIndex, radix: 16)) does not match the EK: \(reason)")
                    }
                } else if requireCertificate {
                    throw CommandFailure("no EK certificate at NV 0x\(String(ek.certificateNVIndex, radix: 16))")
                }
                if created { try store.save(blob) }
                let pubPath = store.directory.appendingPathComponent("ak.pub").path
                let pemPath = store.directory.appendingPathComponent("ak.pem").path
                try writeStateFile(pubPath, blob.publicBytes)
                try writeStateFile(pemPath, Array(akKey.pemRepresentation.utf8) + [0x0A])

                let result = Result(
                    tcti: tpm.resolvedTCTI, ekType: ek.rawValue, ekName: Hex.encode(try ekPublic.name),
                    ekCertificate: certState, ekCertificateSubject: subject, akType: ak.rawValue,
                    akName: Hex.encode(akKey.name), akPublic: pubPath, akPEM: pemPath, created: created)
                if output.json { Output.json(result); return }
                Output.line("""
                EK (\(ek.rawValue)):   \(result.ekName)
                EK certificate: \(certState)\(subject.map { " (\($0))" } ?? "")
                AK (\(ak.rawValue)):   \(result.akName) \(created ? "(created)" : "(existing)")
                AK public:      \(pubPath) (TPM2B_PUBLIC), \(pemPath) (PEM)
                """)
            }
        }
    }
}

extension EKType: ExpressibleByArgument {}
extension AKType: ExpressibleByArgument {}
