package import Foundation

/// Step 1 of enrolment, agent → RC-TCB (no client certificate yet): who the host is and which TPM keys it has.
package struct EnrolmentRequest: Codable, Hashable, Sendable {
    package var hostId: String
    /// The EK's TPM2B_PUBLIC, base64.
    package var ekPublic: String
    /// The EK certificate (DER, base64) read from the TPM's NV.
    package var ekCertificate: String
    /// The platform certificate (DER, base64), when the TPM has one.
    package var platformCertificate: String?
    /// The AK's TPM2B_PUBLIC, base64.
    package var akPublic: String
    /// The public key the agent will use for TLS (SubjectPublicKeyInfo PEM); the client certificate is issued for it.
    package var tlsPublicKey: String

    package init(hostId: String, ekPublic: String, ekCertificate: String, platformCertificate: String?, akPublic: String, tlsPublicKey: String) {
        self.hostId = hostId
        self.ekPublic = ekPublic
        self.ekCertificate = ekCertificate
        self.platformCertificate = platformCertificate
        self.akPublic = akPublic
        self.tlsPublicKey = tlsPublicKey
    }
}

/// Step 1's answer: a credential only the TPM holding both the EK and the AK can recover (TPM2_MakeCredential).
package struct EnrolmentChallenge: Codable, Hashable, Sendable {
    package var challengeId: String
    /// TPM2B_ID_OBJECT, base64.
    package var idObject: String
    /// TPM2B_ENCRYPTED_SECRET, base64.
    package var encryptedSecret: String
    package var expiresAt: Date

    package init(challengeId: String, idObject: String, encryptedSecret: String, expiresAt: Date) {
        self.challengeId = challengeId
        self.idObject = idObject
        self.encryptedSecret = encryptedSecret
        self.expiresAt = expiresAt
    }
}

/// Step 2, agent → RC-TCB: the credential recovered with TPM2_ActivateCredential.
package struct EnrolmentProof: Codable, Hashable, Sendable {
    package var challengeId: String
    /// The recovered credential, base64.
    package var credential: String

    package init(challengeId: String, credential: String) {
        self.challengeId = challengeId
        self.credential = credential
    }
}

/// Step 2's answer: the agent's client certificate and the region CA.
package struct EnrolmentCertificate: Codable, Hashable, Sendable {
    package var hostId: String
    package var akName: String
    /// PEM.
    package var certificate: String
    /// PEM of the region CA.
    package var caCertificate: String

    package init(hostId: String, akName: String, certificate: String, caCertificate: String) {
        self.hostId = hostId
        self.akName = akName
        self.certificate = certificate
        self.caCertificate = caCertificate
    }
}

/// The error body every region endpoint answers with.
package struct RegionErrorBody: Codable, Hashable, Sendable, Error {
    package var code: String
    package var message: String

    package init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
