import Foundation
import Attestation
import Policy
import StateFiles
package import TPM
package import TPMWire

/// `tpm provision` as a library call: makes (or keeps) the host's attestation key under its EK, checks the EK
/// against the EK certificate in NV, and writes the state files a verifier and an enrolment need: `ak.json`
/// (the AK's blobs, re-loaded for every quote), `ak.pub` (TPM2B_PUBLIC), `ak.pem` and `ek-TYPE.der`.
package enum Provisioning {
    package struct Result: Encodable, Sendable {
        package var ekType: String
        package var ekName: String
        /// `matches` or `absent`.
        package var ekCertificate: String
        package var ekCertificateSubject: String?
        package var akType: String
        package var akName: String
        package var akPublic: String
        package var akPEM: String
        package var created: Bool
    }

    /// Why provisioning refused (nothing was written).
    package struct Failure: Error, Sendable, CustomStringConvertible {
        package enum Code: String, Sendable {
            /// An AK of another type exists; `force` replaces it.
            case akExists = "provision.ak-exists"
            /// The saved AK does not load in this TPM (another TPM's, or the TPM was cleared).
            case akForeign = "provision.ak-foreign"
            /// The EK certificate in NV does not certify this TPM's EK.
            case ekCertificateMismatch = "provision.ek-certificate-mismatch"
            /// No EK certificate, and one was required.
            case ekCertificateMissing = "provision.ek-certificate-missing"
        }
        package var code: Code
        package var message: String
        package var description: String { "\(code.rawValue): \(message)" }
    }

    package static func provision(device: TPMDevice, store: AttestationKeyStore, ek: EKType, ak: AKType,
                                 force: Bool = false, requireCertificate: Bool = false) throws -> Result {
        try StateFiles.checkDirectory(store.directory.path, create: true)
        var created = false
        let blob: AttestationKeyBlob
        if store.exists, !force {
            blob = try store.load()
            guard blob.ekType == ek, blob.akType == ak else {
                throw Failure(code: .akExists, message: "an attestation key (\(blob.akType.rawValue) under the \(blob.ekType.rawValue) EK) already exists in \(store.directory.path); use --force to replace it")
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
                throw Failure(code: .akForeign, message: "the attestation key in \(store.directory.path) does not load in this TPM (made by another TPM, or the TPM was cleared?): \(error); --force creates a new one")
            }
        }
        let akKey = try AttestationKey(tpm2bPublic: blob.publicBytes)

        var certificate = "absent"
        var subject: String?
        var certificateDER: [UInt8]?
        if let der = try device.endorsementCertificate(ek) {
            switch EKCertificateMatch.check(ek: ekPublic, certificateDER: der) {
            case .matches(let s, _):
                certificate = "matches"
                subject = s
                certificateDER = der
            case .differs(let reason):
                throw Failure(code: .ekCertificateMismatch, message: "EK certificate at NV 0x\(String(ek.certificateNVIndex, radix: 16)) does not match the EK: \(reason)")
            }
        } else if requireCertificate {
            throw Failure(code: .ekCertificateMissing, message: "no EK certificate at NV 0x\(String(ek.certificateNVIndex, radix: 16))")
        }
        // Every check passed: now the files.
        if let certificateDER {
            try StateFiles.writeAtomically(store.directory.appendingPathComponent("ek-\(ek.rawValue).der").path, certificateDER)
        }
        if created { try store.save(blob) }
        let pubPath = store.directory.appendingPathComponent("ak.pub").path
        let pemPath = store.directory.appendingPathComponent("ak.pem").path
        try StateFiles.writeAtomically(pubPath, blob.publicBytes)
        try StateFiles.writeAtomically(pemPath, Array(akKey.pemRepresentation.utf8) + [0x0A])
        return Result(ekType: ek.rawValue, ekName: Hex.encode(try ekPublic.name), ekCertificate: certificate,
                      ekCertificateSubject: subject, akType: ak.rawValue, akName: Hex.encode(akKey.name),
                      akPublic: pubPath, akPEM: pemPath, created: created)
    }
}
