import Foundation
import Crypto
import NIOCore
package import RegionProtocol
import TPM
import TPMWire

/// The host side of enrolment: send the EK (with its certificate) and the AK, answer the credential with
/// TPM2_ActivateCredential, store the client certificate the RC-TCB issues.
package enum AgentEnrolment {
    package struct Result: Codable, Sendable {
        package var hostId: String
        package var akName: String
        package var certificate: String
        package var regionCA: String
    }

    /// NV index of the platform certificate (TCG PC Client Platform TPM Profile; swtpm_setup --create-platform-cert).
    package static let platformCertificateNVIndex: UInt32 = 0x01C0_8000

    package struct Failure: Error, CustomStringConvertible {
        package let code: String
        package let message: String
        package var description: String { "\(code): \(message)" }
    }

    /// `caFile` is the region CA certificate the operator gave this host (it authenticates the RC-TCB). `restarted` is
    /// told each round that ended without the certificate and is followed by another (``EnrolmentRounds``).
    package static func enrol(rctcb: String, caFile: String, tpm: HostTPM,
                              restarted: (_ round: Int, _ endedWith: RegionClient.Failure) -> Void = { _, _ in }) async throws -> Result {
        // What the operator gave is checked before the TPM is asked for anything.
        let rctcbs = try RCTCBEndpoints(rctcb)
        let client = try RegionClient(caFile: caFile, certificate: nil, key: nil, peer: .rctcb, timeout: .seconds(30), failFast: true)
        defer { Task { await client.shutdown() } }
        let files = AgentIdentityFiles(stateDirectory: tpm.stateDirectory)
        let key = P256.Signing.PrivateKey()
        let blob = tpm.blob
        let (ekPublic, ekCert, platformCert) = try await tpm.run { device -> ([UInt8], [UInt8]?, [UInt8]?) in
            let ek = try device.withEndorsementKey(blob.ekType) { $0.publicKey }
            // The platform certificate, where the TPM holds one (TCG PC Client platform certificate NV index).
            let platform = try? device.readNV(AgentEnrolment.platformCertificateNVIndex)
            return (ek.wireBytes, try device.endorsementCertificate(blob.ekType), platform ?? nil)
        }
        guard let ekCert else {
            throw Failure(code: "enrol.no-ek-certificate", message: "the TPM has no EK certificate at NV 0x\(String(blob.ekType.certificateNVIndex, radix: 16))")
        }
        let request = EnrolmentRequest(hostId: tpm.hostId, ekPublic: Data(ekPublic).base64EncodedString(),
                                       ekCertificate: Data(ekCert).base64EncodedString(),
                                       platformCertificate: platformCert.map { Data($0).base64EncodedString() },
                                       akPublic: Data(blob.publicBytes).base64EncodedString(), tlsPublicKey: key.publicKey.pemRepresentation)
        // Both steps to one RC-TCB, the leader (followers answer rctcb.not-leader): the challenge is open in the one that issued it.
        // An RC-TCB that is asked to enrol faster than it takes from one address (a rack enrolling at once) answers
        // request.rate-limited: each step is asked again later, the waits doubling (``RateLimitedRetry``). The begin
        // for up to ten minutes; the completion for 50 s at most, pauses of 4 s at most, within the minute its
        // challenge is open. A completion that can no longer reach its challenge (expired, unknown, its RC-TCB gone
        // or no longer leading) starts a new round (``EnrolmentRounds``).
        let issued = try await EnrolmentRounds.run(restarted: restarted) { round -> EnrolmentRounds.Completion<EnrolmentCertificate> in
            // A later round may start while the region has no leader (the one that issued the last challenge died or
            // stepped down): its begin waits for one as it waits out the budget. The first fails at once on a region
            // none of whose RC-TCBs answers (a wrong URL).
            let (base, challenge) = try await RateLimitedRetry.run(alsoWhile: { round > 1 && RCTCBEndpoints.failsOver($0) }) {
                try await rctcbs.call { base -> (String, EnrolmentChallenge) in
                    (base, try await client.call(RCTCBRoutes.enrolBegin, at: base, request))
                }
            }
            guard let idObject = Data(base64Encoded: challenge.idObject), let secret = Data(base64Encoded: challenge.encryptedSecret) else {
                throw Failure(code: "enrol.bad-challenge", message: "the RC-TCB's credential is not base64")
            }
            let credential = try await tpm.run { device in
                try device.activateCredential(ak: blob, idObject: [UInt8](idObject), encryptedSecret: [UInt8](secret))
            }
            let proof = EnrolmentProof(challengeId: challenge.challengeId, credential: Data(credential).base64EncodedString())
            do {
                return .completed(try await RateLimitedRetry.run(patience: .seconds(50), maxPause: .seconds(4)) {
                    try await client.call(RCTCBRoutes.enrolComplete, at: base, proof)
                })
            } catch let f as RegionClient.Failure {
                return .refused(f)
            }
        }
        try AgentFiles.write(Array(key.pemRepresentation.utf8), to: files.tlsKey, mode: 0o600)
        try AgentFiles.write(Array(issued.certificate.utf8), to: files.tlsCertificate, mode: 0o644)
        try AgentFiles.write(Array(issued.caCertificate.utf8), to: files.regionCA, mode: 0o644)
        return Result(hostId: issued.hostId, akName: issued.akName, certificate: files.tlsCertificate, regionCA: files.regionCA)
    }
}

/// Writes the agent's identity files: replaced atomically, never through a symbolic link.
enum AgentFiles {
    static func write(_ bytes: [UInt8], to path: String, mode: Int) throws {
        let tmp = path + ".tmp-\(getpid())"
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode_t(mode))
        guard fd >= 0 else { throw AgentEnrolment.Failure(code: "agent.state-file", message: "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        let ok = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) } == bytes.count && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            unlink(tmp)
            throw AgentEnrolment.Failure(code: "agent.state-file", message: "cannot write \(path)")
        }
    }
}
