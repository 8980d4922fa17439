package import Attestation
package import Foundation

/// Renewal, step 1's answer (agent → RC-TCB with its current certificate): a nonce for a quote by the enrolled AK.
package struct RenewalChallenge: Codable, Hashable, Sendable {
    /// Hex; single use, for this host only.
    package var nonce: String
    /// The PCRs to quote (tpm2-tools notation); the quote proves the AK, not a state.
    package var pcrSelection: String
    package var expiresAt: Date

    package init(nonce: String, pcrSelection: String, expiresAt: Date) {
        self.nonce = nonce
        self.pcrSelection = pcrSelection
        self.expiresAt = expiresAt
    }
}

/// Renewal, step 2: the quote over the nonce, signed by the enrolled AK, and the new TLS public key the certificate
/// is issued for. The answer is an ``EnrolmentCertificate``.
package struct RenewalProof: Codable, Hashable, Sendable {
    package var evidence: EvidenceBundle
    /// SubjectPublicKeyInfo PEM.
    package var tlsPublicKey: String

    package init(evidence: EvidenceBundle, tlsPublicKey: String) {
        self.evidence = evidence
        self.tlsPublicKey = tlsPublicKey
    }
}
