import Crypto
package import Foundation
import ServiceLifecycle
import CoreMetrics
import Metrics
import Logging
import NIOCore
import NIOSSL
import RegionProtocol
import Synchronization
import TPMWire
import X509

/// What the agent's certificate renewal records (swift-metrics; created once).
enum AgentCertificateMetrics {
    static let daysToExpiry = Gauge(label: "smig_agent_certificate_days_to_expiry")
    static let renewals = Counter(label: "smig_agent_certificate_renewals_total", dimensions: [("result", "ok")])
    static let failures = Counter(label: "smig_agent_certificate_renewals_total", dimensions: [("result", "fail")])
}

extension AgentRuntime {
    /// How often the agent looks at its certificate's age.
    static let renewalCheckInterval: Duration = .seconds(60)

    /// Whether a certificate valid from `notBefore` to `notAfter` is due for renewal at `now`: `fraction` of its
    /// lifetime (``AgentConfig/renewCertificateAt``) has passed.
    package static func renewalDue(notBefore: Date, notAfter: Date, now: Date, fraction: Double) -> Bool {
        let lifetime = notAfter.timeIntervalSince(notBefore)
        guard lifetime > 0 else { return true }
        return now.timeIntervalSince(notBefore) >= lifetime * fraction
    }

    func renewalLoop() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await renewIfDue(now: Date())
            try? await Task.sleep(for: Self.renewalCheckInterval)
        }
    }

    /// Records the days left and renews when due; a failed renewal is logged and tried again at the next check
    /// (the current certificate stays in use until it expires).
    func renewIfDue(now: Date) async {
        let c = identity.value
        let days = c.notAfter.timeIntervalSince(now) / 86_400
        AgentCertificateMetrics.daysToExpiry.record(days)
        guard Self.renewalDue(notBefore: c.notBefore, notAfter: c.notAfter, now: now, fraction: config.renewCertificateAt ?? AgentConfig.defaultRenewAt) else { return }
        do {
            try await renewCertificate()
            AgentCertificateMetrics.renewals.increment()
            let renewed = identity.value
            AgentCertificateMetrics.daysToExpiry.record(renewed.notAfter.timeIntervalSince(Date()) / 86_400)
            logger.notice("agent certificate renewed", metadata: ["attest.valid-until": "\(renewed.notAfter.formatted(.iso8601))"])
        } catch {
            AgentCertificateMetrics.failures.increment()
            logger.warning("agent certificate not renewed", metadata: ["attest.reason": "\(error)", "attest.days-left": "\(Int(days))"])
        }
    }

    /// Renews the agent's certificate: a nonce from the RC-TCB, a quote over it by the AK, a new TLS key; the new
    /// key and certificate replace the files and the identity in use.
    package func renewCertificate() async throws {
        // Both steps to one RC-TCB: the challenge is open in the one that issued it.
        let (base, challenge) = try await rctcbs.call { base -> (String, RenewalChallenge) in
            (base, try await client.call(RCTCBRoutes.renewBegin, at: base))
        }
        guard let nonce = Hex.decode(challenge.nonce) else {
            throw AgentEnrolment.Failure(code: "renew.bad-challenge", message: "the RC-TCB's nonce is not hex")
        }
        let selection = try PCRSelectionList(parsing: challenge.pcrSelection)
        let evidence = try await tpm.evidence(nonce: nonce, selection: selection)
        let key = P256.Signing.PrivateKey()
        let issued = try await client.call(RCTCBRoutes.renewComplete, at: base,
                                                                 RenewalProof(evidence: evidence, tlsPublicKey: key.publicKey.pemRepresentation))
        guard issued.hostId == config.hostId, let cert = try? leafCertificate(issued.certificate),
              cert.publicKey == Certificate.PublicKey(key.publicKey) else {
            throw AgentEnrolment.Failure(code: "renew.bad-certificate", message: "the RC-TCB's certificate is not for this host and key")
        }
        let files = AgentIdentityFiles(stateDirectory: config.stateDirectory)
        // Each file is replaced atomically; a crash between the two renames leaves the new key beside the old
        // certificate, a pair that no peer accepts: `agent enrol` again then (after `rctcb readmit`).
        try AgentFiles.write(Array(key.pemRepresentation.utf8), to: files.tlsKey, mode: 0o600)
        try AgentFiles.write(Array(issued.certificate.utf8), to: files.tlsCertificate, mode: 0o644)
        try identity.reload(files, timeout: timeout, grace: .seconds(Int64(config.challengeTimeout * 4 + 5)))
    }
}
