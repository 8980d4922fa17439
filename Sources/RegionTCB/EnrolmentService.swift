package import Foundation
import Attestation
import Crypto
package import Logging
import SwiftASN1
package import RegionProtocol
import TPMWire
import X509
import Policy

/// The RC-TCB side of enrolment. A host proves its AK lives in a TPM the region trusts:
///
/// 1. `begin`: the EK certificate chains to a configured EK CA and certifies exactly this EK; the EK has a TCG EK
///    template; the AK is a restricted, fixedTPM, fixedParent, sensitiveDataOrigin signing key with a fixed
///    scheme; the host is in the region and has not enrolled another AK. The answer is a credential encrypted
///    to the EK and bound to the AK's Name (TPM2_MakeCredential, in software).
/// 2. `complete`: only a TPM holding both keys recovers the credential (TPM2_ActivateCredential). Each credential
///    is single-use and expires. Then the region CA issues the agent's client certificate naming host and AK
///    Name, and the enrolment is recorded as an audited event.
///
/// Every refusal has its own code and records nothing.
package actor EnrolmentService {
    struct Pending {
        var hostId: String
        var akPublic: [UInt8]
        var akName: String
        var ekIdentity: String
        var tlsPublicKey: Certificate.PublicKey
        var secret: [UInt8]
        var expires: Date
    }

    let store: IVTStore
    let ca: RegionCA
    let ekAuthorities: [[UInt8]]
    let logger: Logger
    /// How long a credential may be answered.
    package let challengeLifetime: TimeInterval
    var pending: [String: Pending] = [:]
    static let maximumPending = 10_000

    package init(store: IVTStore, ca: RegionCA, ekAuthorities: [[UInt8]], challengeLifetime: TimeInterval = 60, logger: Logger) {
        self.store = store
        self.ca = ca
        self.ekAuthorities = ekAuthorities
        self.challengeLifetime = challengeLifetime
        self.logger = logger
    }

    package func begin(_ request: EnrolmentRequest, now: Date = Date()) async throws(RegionError) -> EnrolmentChallenge {
        do {
            return try await beginChecked(request, now: now)
        } catch {
            logger.warning("enrolment refused", metadata: ["attest.host": "\(request.hostId)", "attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
            throw error
        }
    }

    func beginChecked(_ request: EnrolmentRequest, now: Date) async throws(RegionError) -> EnrolmentChallenge {
        guard HostID.isValid(request.hostId) else { throw RegionError(.badHostId, "host id '\(request.hostId.prefix(64))' is not a valid host id") }
        guard let row = try store.row(request.hostId) else {
            throw RegionError(.unknownHost, "host \(request.hostId) is not in this region's policy")
        }
        let ekBytes = try Self.base64(request.ekPublic, "ekPublic")
        let certDER = try Self.base64(request.ekCertificate, "ekCertificate")
        let akBytes = try Self.base64(request.akPublic, "akPublic")
        let tlsKey: Certificate.PublicKey
        do { tlsKey = try Certificate.PublicKey(pemEncoded: request.tlsPublicKey) } catch {
            throw RegionError(.malformedRequest, "tlsPublicKey is not a SubjectPublicKeyInfo PEM")
        }
        let ek: Public
        do { ek = try Public(wireBytes: ekBytes) } catch { throw RegionError(.malformedRequest, "ekPublic is not a TPM2B_PUBLIC: \(error.reason)") }
        guard EKTemplate.type(of: ek) != nil else {
            throw RegionError(.ekTemplate, "the EK's public area matches no TCG EK template (attributes 0x\(String(ek.publicArea.objectAttributes.rawValue, radix: 16)))")
        }
        var ekIdentity: String
        switch await EKCertificateChain.verify(certificateDER: certDER, authorities: ekAuthorities, at: now) {
        case .untrusted(let reason): throw RegionError(.ekCertificateUntrusted, reason)
        case .trusted(let subject, let issuer, let serial): ekIdentity = "issuer \(issuer), serial \(serial), subject \(subject)"
        }
        if let platform = request.platformCertificate {
            // Recorded, not judged: platform certificates describe the machine, they do not vouch for the AK.
            let bytes = try Self.base64(platform, "platformCertificate")
            ekIdentity += "; platform certificate sha256 \(Hex.encode(Array(SHA256.hash(data: bytes))))"
        }
        if case .differs(let reason) = EKCertificateMatch.check(ek: ek, certificateDER: certDER) {
            throw RegionError(.ekCertificateMismatch, reason)
        }
        let ak: AttestationKey
        do { ak = try AttestationKey(tpm2bPublic: akBytes) } catch { throw RegionError(.akAttributes, "\(error)") }
        if let area = ak.publicKey?.publicArea {
            guard area.objectAttributes.contains(.sensitiveDataOrigin) else {
                throw RegionError(.akAttributes, "the AK was not generated inside the TPM (sensitiveDataOrigin clear)")
            }
            guard area.scheme.scheme != .null else { throw RegionError(.akAttributes, "the AK has no fixed signing scheme") }
        }
        let akName = Hex.encode(ak.name)
        if row.revoked { throw RegionError(.revoked, "host \(request.hostId) was revoked; the operator must re-admit it (rctcb readmit)") }
        if let enrolled = try store.enrolment(request.hostId), enrolled.akName != akName {
            throw RegionError(.akChanged, "host \(request.hostId) enrolled AK \(enrolled.akName) on \(enrolled.enrolledAt); a new AK needs the operator's re-admission (rctcb readmit)")
        }
        var secret = [UInt8](repeating: 0, count: 32)
        var id = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in secret.indices { secret[i] = rng.next() }
        for i in id.indices { id[i] = rng.next() }
        let challenge: CredentialChallenge
        do { challenge = try MakeCredential.make(ek: ek, objectName: ak.name, credential: secret) } catch {
            throw RegionError(.ekTemplate, "cannot make a credential for this EK: \(error)")
        }
        let challengeId = Hex.encode(id)
        pending = pending.filter { $0.value.expires > now }
        // Enrolment is open to anyone who holds a certified TPM: bound the open credentials.
        guard pending.count < Self.maximumPending else {
            throw RegionError(.busy, "too many enrolments in progress; try again in \(Int(challengeLifetime)) s")
        }
        pending[challengeId] = Pending(hostId: request.hostId, akPublic: akBytes, akName: akName, ekIdentity: ekIdentity,
                                       tlsPublicKey: tlsKey, secret: secret, expires: now.addingTimeInterval(challengeLifetime))
        return EnrolmentChallenge(challengeId: challengeId, idObject: Data(challenge.idObject).base64EncodedString(),
                                  encryptedSecret: Data(challenge.encryptedSecret).base64EncodedString(),
                                  expiresAt: now.addingTimeInterval(challengeLifetime))
    }

    package func complete(_ proof: EnrolmentProof, now: Date = Date()) throws(RegionError) -> EnrolmentCertificate {
        // Single use: the challenge is gone whatever happens next.
        guard let p = pending.removeValue(forKey: proof.challengeId) else {
            throw RegionError(.unknownChallenge, "no open enrolment challenge \(proof.challengeId.prefix(40)) (unknown, already used, or the RC-TCB restarted)")
        }
        guard p.expires > now else { throw RegionError(.challengeExpired, "the enrolment challenge expired at \(p.expires)") }
        let answer = try Self.base64(proof.credential, "credential")
        guard answer.count == p.secret.count, zip(answer, p.secret).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            logger.warning("enrolment refused", metadata: ["attest.host": "\(p.hostId)", "attest.code": "enrol.activation-failed"])
            throw RegionError(.activationFailed, "the credential was not recovered: the AK and the EK are not in the same TPM")
        }
        if let row = try store.row(p.hostId), row.revoked { throw RegionError(.revoked, "host \(p.hostId) was revoked") }
        if let enrolled = try store.enrolment(p.hostId), enrolled.akName != p.akName {
            throw RegionError(.akChanged, "host \(p.hostId) enrolled another AK meanwhile")
        }
        let cert: Certificate
        let caPEM: String
        do {
            cert = try ca.issue(for: p.tlsPublicKey, identity: RegionIdentity(role: .agent, name: p.hostId, akName: p.akName), now: now)
            caPEM = try ca.certificate.pem
        } catch {
            throw RegionError(.storeFailed, "cannot issue the agent certificate: \(error)")
        }
        try store.recordEnrolment(host: p.hostId, akPublic: p.akPublic, akName: p.akName, ekCertificate: p.ekIdentity, now: now)
        logger.info("host enrolled", metadata: ["attest.host": "\(p.hostId)", "attest.ak": "\(p.akName)"])
        let pem: String
        do { pem = try cert.pem } catch { throw RegionError(.storeFailed, "cannot encode the agent certificate") }
        return EnrolmentCertificate(hostId: p.hostId, akName: p.akName, certificate: pem, caCertificate: caPEM)
    }

    static func base64(_ text: String, _ field: String) throws(RegionError) -> [UInt8] {
        guard text.utf8.count <= 64 * 1024, let d = Data(base64Encoded: text) else {
            throw RegionError(.malformedRequest, "\(field) is not base64 (or longer than 64 KiB)")
        }
        return [UInt8](d)
    }
}
