package import Foundation
import Attestation
import Crypto
package import Logging
import SwiftASN1
package import RegionProtocol
import TPMWire
import X509
package import Policy

/// The RC-TCB side of enrolment. A host proves its AK lives in a TPM the region trusts:
///
/// 1. `begin`: first who may enrol (``EnrolmentAdmission``, read from the IVT before anything costly): the host
///    is in the region, not revoked, not enrolled (or re-admitted by the operator), and the EK is the one the
///    region policy pins and the re-admission allows, and is not enrolled as another host. Then the EK
///    certificate chains to a configured EK CA and certifies exactly this EK; the EK has a TCG EK template; the
///    AK is a restricted, fixedTPM, fixedParent, sensitiveDataOrigin signing key with a fixed scheme. The answer
///    is a credential encrypted to the EK and bound to the AK's Name (TPM2_MakeCredential, in software).
///    Nothing is kept: the credential's terms travel sealed in the challenge id (``EnrolmentTicket``), so a flood
///    of `begin` fills no table and cannot displace the genuine host's credential.
/// 2. `complete`: only a TPM holding both keys recovers the credential (TPM2_ActivateCredential). Each credential
///    is single-use and expires. The admission is checked again against the IVT as it is now; then the region
///    CA issues the agent's client certificate naming host and AK Name, and the enrolment (with the EK's Name and
///    certificate hash: the host's EK binding) is recorded as an audited event.
///
/// Every refusal has its own code and changes nothing; it is logged and audited (`enrol-refused`, aggregated: one
/// event per host, code and window, and one for all the host ids the region does not know).
package actor EnrolmentService {
    let store: any RegionStore
    let ca: RegionCA
    let ekAuthorities: [[UInt8]]
    /// The region policy's EK pins by host id.
    let ekPins: [String: RegionPolicy.EKPin]
    let logger: Logger
    /// How long a credential may be answered.
    package let challengeLifetime: TimeInterval
    let seal = EnrolmentTicketSeal()
    /// Tickets answered (right or wrong) and when they expire: a ticket is used once. Only tickets this process
    /// sealed get here, and they expire within `challengeLifetime`.
    var answered: [String: Date] = [:]

    /// Called with `enrolment.completing` when a completion arrives, before anything is checked; only tests pass one
    /// (through `smig-rctcb-hooked`, to stop an RC-TCB between an agent's two requests).
    let stepHook: (@Sendable (String) -> Void)?

    package init(store: any RegionStore, ca: RegionCA, ekAuthorities: [[UInt8]], ekPins: [String: RegionPolicy.EKPin] = [:],
                 challengeLifetime: TimeInterval = 60, stepHook: (@Sendable (String) -> Void)? = nil, logger: Logger) {
        self.stepHook = stepHook
        self.store = store
        self.ca = ca
        self.ekAuthorities = ekAuthorities
        self.ekPins = ekPins
        self.challengeLifetime = challengeLifetime
        self.logger = logger
    }

    package func begin(_ request: EnrolmentRequest, now: Date = Date()) async throws(RegionError) -> EnrolmentChallenge {
        do {
            return try await beginChecked(request, now: now)
        } catch {
            // Past the host id checks the host is one of the region's: the id is no longer the requester's to choose.
            await refused(error, host: [.badHostId, .unknownHost].contains(error.code) ? nil : request.hostId, named: request.hostId, now: now)
            throw error
        }
    }

    /// How long aggregated refusals of one host and code add to one audit event (as refused reports do).
    package static let refusalWindow = RegionState.refusalWindow

    /// Logs a refusal and records it as an `enrol-refused` audit event, aggregated (``IVTStore/auditAggregated``):
    /// one event per host, code and window. `host` is nil when the request named no host of the region: such
    /// refusals share one event per code and window whatever ids a flood names, and only the event's detail (the
    /// latest refusal's reason, whose id is at most 64 characters) tells one id. The detail is what the operator's
    /// terminal shows (`events`): its control and format characters, which a request may have put there, become
    /// `?`. An audit that fails is logged; the refusal stands.
    func refused(_ error: RegionError, host: String?, named: String, now: Date) async {
        logger.warning("enrolment refused", metadata: ["attest.host": "\(named.prefix(64))", "attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
        let detail = String(String.UnicodeScalarView(error.reason.unicodeScalars.prefix(512).map { c in
            [.control, .format].contains(c.properties.generalCategory) ? "?" : c
        }))
        do {
            try await store.auditAggregated(host: host, kind: "enrol-refused", code: error.code.rawValue, detail: detail,
                                      window: Self.refusalWindow, now: now)
        } catch {
            logger.error("cannot audit an enrolment refusal", metadata: ["attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
        }
    }

    /// The host's admission, or `enrol.unknown-host`.
    func admission(_ host: String) async throws(RegionError) -> EnrolmentAdmission {
        guard let standing = try await store.enrolmentStanding(host) else {
            throw RegionError(.unknownHost, "host \(host) is not in this region's policy")
        }
        return EnrolmentAdmission(standing: standing, pin: ekPins[host])
    }

    /// The admission checks and one TPM, one host: the EK is not enrolled as another host.
    func admit(_ host: String, akName: String, ekName: String, ekCertificateSHA256: String) async throws(RegionError) {
        try await admission(host).check(akName: akName, ekName: Hex.decode(ekName) ?? [], ekCertificateSHA256: Hex.decode(ekCertificateSHA256) ?? [])
        if let other = try await store.host(enrolledWithEK: ekName, other: host) {
            throw RegionError(.ekBoundElsewhere, "this EK (\(ekName)) is enrolled as host \(other); one TPM is one host")
        }
    }

    func beginChecked(_ request: EnrolmentRequest, now: Date) async throws(RegionError) -> EnrolmentChallenge {
        guard HostID.isValid(request.hostId) else { throw RegionError(.badHostId, "host id '\(request.hostId.prefix(64))' is not a valid host id") }
        // Cheap checks first: who may enrol is decided before any certificate chain is verified.
        _ = try await admission(request.hostId)
        let ekBytes = try Self.base64(request.ekPublic, "ekPublic")
        let certDER = try Self.base64(request.ekCertificate, "ekCertificate")
        let akBytes = try Self.base64(request.akPublic, "akPublic")
        let ak: AttestationKey
        do { ak = try AttestationKey(tpm2bPublic: akBytes) } catch { throw RegionError(.akAttributes, "\(error)") }
        let akName = Hex.encode(ak.name)
        let ek: Public
        do { ek = try Public(wireBytes: ekBytes) } catch { throw RegionError(.malformedRequest, "ekPublic is not a TPM2B_PUBLIC: \(error.reason)") }
        let ekName: String
        do { ekName = Hex.encode(try ek.name) } catch { throw RegionError(.malformedRequest, "ekPublic has no Name: \(error.reason)") }
        let ekCertificateSHA256 = Hex.encode(Array(SHA256.hash(data: certDER)))
        try await admit(request.hostId, akName: akName, ekName: ekName, ekCertificateSHA256: ekCertificateSHA256)

        _ = try Self.tlsKey(request.tlsPublicKey)
        if let area = ak.publicKey?.publicArea {
            guard area.objectAttributes.contains(.sensitiveDataOrigin) else {
                throw RegionError(.akAttributes, "the AK was not generated inside the TPM (sensitiveDataOrigin clear)")
            }
            guard area.scheme.scheme != .null else { throw RegionError(.akAttributes, "the AK has no fixed signing scheme") }
        }
        guard EKTemplate.type(of: ek) != nil else {
            throw RegionError(.ekTemplate, "the EK's public area matches no TCG EK template (attributes 0x\(String(ek.publicArea.objectAttributes.rawValue, radix: 16)))")
        }
        // The certificate certifies this EK (cheap) before its chain is verified (the costliest check).
        if case .differs(let reason) = EKCertificateMatch.check(ek: ek, certificateDER: certDER) {
            throw RegionError(.ekCertificateMismatch, reason)
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
        var nonce = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in nonce.indices { nonce[i] = rng.next() }
        let expires = now.addingTimeInterval(challengeLifetime)
        let ticket = EnrolmentTicket(hostId: request.hostId, akPublic: Data(akBytes), akName: akName, ekIdentity: ekIdentity, ekName: ekName,
                                     ekCertificateSHA256: ekCertificateSHA256, tlsPublicKey: request.tlsPublicKey,
                                     expires: expires.timeIntervalSince1970, nonce: Hex.encode(nonce))
        let (challengeId, secret) = seal.seal(ticket)
        let challenge: CredentialChallenge
        do { challenge = try MakeCredential.make(ek: ek, objectName: ak.name, credential: secret) } catch {
            throw RegionError(.ekTemplate, "cannot make a credential for this EK: \(error)")
        }
        return EnrolmentChallenge(challengeId: challengeId, idObject: Data(challenge.idObject).base64EncodedString(),
                                  encryptedSecret: Data(challenge.encryptedSecret).base64EncodedString(), expiresAt: expires)
    }

    /// `now`: the time the completion is judged at; nil, the clock's once the step hook returned.
    package func complete(_ proof: EnrolmentProof, now: Date? = nil) async throws(RegionError) -> EnrolmentCertificate {
        stepHook?("enrolment.completing")
        let now = now ?? Date()
        let opened = seal.open(proof.challengeId)
        do {
            return try await completeChecked(proof, opened, now: now)
        } catch {
            // A ticket this RC-TCB sealed names a host of the region; an unknown challenge names none.
            await refused(error, host: opened?.ticket.hostId, named: opened?.ticket.hostId ?? "-", now: now)
            throw error
        }
    }

    func completeChecked(_ proof: EnrolmentProof, _ opened: (ticket: EnrolmentTicket, mac: String, credential: [UInt8])?,
                         now: Date) async throws(RegionError) -> EnrolmentCertificate {
        guard let (p, mac, secret) = opened, answered[mac] == nil else {
            throw RegionError(.unknownChallenge, "no open enrolment challenge \(proof.challengeId.prefix(40)) (unknown, already used, or the RC-TCB restarted)")
        }
        let expires = Date(timeIntervalSince1970: p.expires)
        // Single use: the challenge is gone whatever happens next.
        forgetAnswered(before: now)
        answered[mac] = expires
        guard expires > now else { throw RegionError(.challengeExpired, "the enrolment challenge expired at \(expires)") }
        let answer = try Self.base64(proof.credential, "credential")
        guard answer.count == secret.count, zip(answer, secret).reduce(UInt8(0), { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw RegionError(.activationFailed, "the credential was not recovered: the AK and the EK are not in the same TPM")
        }
        // The IVT may have changed since `begin` (another enrolment, a revocation, a re-admission).
        try await admit(p.hostId, akName: p.akName, ekName: p.ekName, ekCertificateSHA256: p.ekCertificateSHA256)
        let tlsKey = try Self.tlsKey(p.tlsPublicKey)
        let cert: Certificate
        let caPEM: String
        do {
            cert = try ca.issue(for: tlsKey, identity: RegionIdentity(role: .agent, name: p.hostId, akName: p.akName), now: now)
            caPEM = try ca.anchor.pem
        } catch {
            throw RegionError(.storeFailed, "cannot issue the agent certificate: \(error)")
        }
        try await store.recordEnrolment(host: p.hostId, akPublic: [UInt8](p.akPublic), akName: p.akName, ekCertificate: p.ekIdentity,
                                  ekName: p.ekName, ekCertificateSHA256: p.ekCertificateSHA256, now: now)
        try await store.recordCertificate(.init(cert, host: p.hostId, akName: p.akName, issuedBy: "enrolment"), audit: nil, now: now)
        logger.info("host enrolled", metadata: ["attest.host": "\(p.hostId)", "attest.ak": "\(p.akName)", "attest.ek": "\(p.ekName)"])
        let pem: String
        do { pem = try ca.chainPEM(cert) } catch { throw RegionError(.storeFailed, "cannot encode the agent certificate") }
        return EnrolmentCertificate(hostId: p.hostId, akName: p.akName, certificate: pem, caCertificate: caPEM)
    }

    /// Drops the used tickets that have expired (an expired ticket is refused by its own expiry).
    func forgetAnswered(before now: Date) {
        if answered.count >= 1024 { answered = answered.filter { $0.value > now } }
    }

    static func tlsKey(_ pem: String) throws(RegionError) -> Certificate.PublicKey {
        do { return try Certificate.PublicKey(pemEncoded: pem) } catch {
            throw RegionError(.malformedRequest, "tlsPublicKey is not a SubjectPublicKeyInfo PEM")
        }
    }

    static func base64(_ text: String, _ field: String) throws(RegionError) -> [UInt8] {
        guard text.utf8.count <= 64 * 1024, let d = Data(base64Encoded: text) else {
            throw RegionError(.malformedRequest, "\(field) is not base64 (or longer than 64 KiB)")
        }
        return [UInt8](d)
    }
}
