package import Foundation
package import Attestation
package import Logging
package import RegionProtocol
import TPMWire
import X509

extension RegionError.Code {
    /// A renewal answered without a challenge this RC-TCB issued to this host (none, used, expired, restarted).
    package static let renewUnknownChallenge = Self(rawValue: "renew.unknown-challenge")
    /// The renewal's quote is not by the host's enrolled AK (another AK, another host's bundle).
    package static let renewAKMismatch = Self(rawValue: "renew.ak-mismatch")
    /// The renewal's quote did not verify (signature, nonce, PCR digest): its `quote.*` reason is in the message.
    package static let renewQuoteRefused = Self(rawValue: "renew.quote-refused")
}

/// Agent certificate renewal. The agent asks with its current certificate — the host enrolled with the
/// certificate's AK and not revoked (as every agent route) — and gets a nonce; it answers with a quote over that
/// nonce by its AK and a new TLS public key. The quote is verified against the enrolled AK (the AK the
/// enrolment's credential activation proved to live in the host's TPM), so only that TPM can renew; the region
/// CA then issues a certificate naming the same host and AK, recorded (`rctcb certs`) and audited
/// (`certificate-renewed`). Refusals have their own codes, change nothing and are audited (`renew-refused`,
/// aggregated like other refusals). One open challenge per host: a new one replaces it.
package actor CertificateRenewal {
    let store: any RegionStore
    let ca: RegionCA
    let logger: Logger
    package let challengeLifetime: TimeInterval
    /// The PCRs the renewal's quote covers: it proves the AK, not the host's state (ring duty judges that).
    package static let selection = "sha256:0"
    var open: [String: (nonce: [UInt8], expires: Date)] = [:]

    package init(store: any RegionStore, ca: RegionCA, challengeLifetime: TimeInterval = 60, logger: Logger) {
        self.store = store
        self.ca = ca
        self.challengeLifetime = challengeLifetime
        self.logger = logger
    }

    /// Step 1 for `host`, whose certificate names `akName` (already admitted as an agent).
    package func begin(host: String, akName: String?, now: Date = Date()) async throws(RegionError) -> RenewalChallenge {
        try await refusing(host) { () async throws(RegionError) in
            _ = try await enrolledKey(host, akName: akName)
            var nonce = [UInt8](repeating: 0, count: 32)
            var rng = SystemRandomNumberGenerator()
            for i in nonce.indices { nonce[i] = rng.next() }
            let expires = now.addingTimeInterval(challengeLifetime)
            open[host] = (nonce, expires)
            return RenewalChallenge(nonce: Hex.encode(nonce), pcrSelection: Self.selection, expiresAt: expires)
        }
    }

    /// Step 2: the quote over the nonce by the enrolled AK; the new certificate.
    package func complete(host: String, akName: String?, proof: RenewalProof, now: Date = Date()) async throws(RegionError) -> EnrolmentCertificate {
        try await refusing(host) { () async throws(RegionError) in
            // Single use: the challenge is spent whatever happens next.
            guard let challenge = open.removeValue(forKey: host), challenge.expires > now else {
                throw RegionError(.renewUnknownChallenge, "no open renewal challenge for \(host) (none asked, already used, expired, or the RC-TCB restarted)")
            }
            let (enrolledName, key) = try await enrolledKey(host, akName: akName)
            let bundle = proof.evidence
            guard bundle.hostId == host, bundle.akName == enrolledName else {
                throw RegionError(.renewAKMismatch, "the quote names host \(bundle.hostId.prefix(64)) and AK \(bundle.akName.prefix(80)); \(host) is enrolled with AK \(enrolledName)")
            }
            switch bundle.verify(pinnedAK: .publicArea(key), freshness: .nonce(challenge.nonce), selection: nil) {
            case .rejected(let e):
                let code: RegionError.Code = e.code == .akMismatch ? .renewAKMismatch : .renewQuoteRefused
                throw RegionError(code, "\(e.code.rawValue): \(e.reason)")
            case .valid, .rebooted: break
            }
            let tlsKey = try EnrolmentService.tlsKey(proof.tlsPublicKey)
            let cert: Certificate
            let pem: String, caPEM: String
            do {
                cert = try ca.issue(for: tlsKey, identity: RegionIdentity(role: .agent, name: host, akName: enrolledName), now: now)
                // As at enrolment: the certificate with the issuing CA after it (an offline root), and the trust anchor.
                (pem, caPEM) = (try ca.chainPEM(cert), try ca.anchor.pem)
            } catch {
                throw RegionError(.storeFailed, "cannot issue the agent certificate: \(error)")
            }
            try await store.recordCertificate(.init(cert, host: host, akName: enrolledName, issuedBy: "renewal"), audit: "certificate-renewed", now: now)
            logger.notice("agent certificate renewed", metadata: ["attest.host": "\(host)", "attest.serial": "\(Hex.encode(Array(cert.serialNumber.bytes)))"])
            return EnrolmentCertificate(hostId: host, akName: enrolledName, certificate: pem, caCertificate: caPEM)
        }
    }

    /// The host's enrolled AK Name and key; `enrol.revoked` / `enrol.ak-changed` as the agent routes refuse.
    func enrolledKey(_ host: String, akName: String?) async throws(RegionError) -> (String, AttestationKey) {
        guard let e = try await store.enrolment(host), !e.revoked, let key = try? AttestationKey(tpm2bPublic: e.akPublic) else {
            throw RegionError(.revoked, "host \(host) is revoked or not enrolled")
        }
        guard e.akName == akName else {
            throw RegionError(.akChanged, "the certificate names AK \(akName ?? "-"), host \(host) is enrolled with \(e.akName)")
        }
        return (e.akName, key)
    }

    /// Runs a step; a refusal is logged and audited (aggregated), then thrown.
    func refusing<T>(_ host: String, _ body: () async throws(RegionError) -> T) async throws(RegionError) -> T {
        do { return try await body() } catch {
            logger.warning("certificate renewal refused", metadata: ["attest.host": "\(host)", "attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
            try? await store.auditAggregated(host: host, kind: "renew-refused", code: error.code.rawValue, detail: String(error.reason.prefix(512)),
                                             window: RegionState.refusalWindow, now: Date())
            throw error
        }
    }
}

extension IssuedCertificate {
    init(_ cert: Certificate, host: String, akName: String?, issuedBy: String) {
        self.init(serial: Hex.encode(Array(cert.serialNumber.bytes)), host: host, akName: akName, issuedAt: cert.notValidBefore.addingTimeInterval(300),
                  notAfter: cert.notValidAfter, issuedBy: issuedBy)
    }
}
