public import Foundation

/// Step 1 of enrolment, agent → RC-TCB (no client certificate yet): who the host is and which TPM keys it has.
public struct EnrolmentRequest: Codable, Hashable, Sendable {
    public var hostId: String
    /// The EK's TPM2B_PUBLIC, base64.
    public var ekPublic: String
    /// The EK certificate (DER, base64) read from the TPM's NV.
    public var ekCertificate: String
    /// The platform certificate (DER, base64), when the TPM has one.
    public var platformCertificate: String?
    /// The AK's TPM2B_PUBLIC, base64.
    public var akPublic: String
    /// The public key the agent will use for TLS (SubjectPublicKeyInfo PEM); the client certificate is issued for it.
    public var tlsPublicKey: String

    public init(hostId: String, ekPublic: String, ekCertificate: String, platformCertificate: String?, akPublic: String, tlsPublicKey: String) {
        self.hostId = hostId
        self.ekPublic = ekPublic
        self.ekCertificate = ekCertificate
        self.platformCertificate = platformCertificate
        self.akPublic = akPublic
        self.tlsPublicKey = tlsPublicKey
    }
}

/// Step 1's answer: a credential only the TPM holding both the EK and the AK can recover (TPM2_MakeCredential).
public struct EnrolmentChallenge: Codable, Hashable, Sendable {
    public var challengeId: String
    /// TPM2B_ID_OBJECT, base64.
    public var idObject: String
    /// TPM2B_ENCRYPTED_SECRET, base64.
    public var encryptedSecret: String
    public var expiresAt: Date

    public init(challengeId: String, idObject: String, encryptedSecret: String, expiresAt: Date) {
        self.challengeId = challengeId
        self.idObject = idObject
        self.encryptedSecret = encryptedSecret
        self.expiresAt = expiresAt
    }
}

/// Step 2, agent → RC-TCB: the credential recovered with TPM2_ActivateCredential.
public struct EnrolmentProof: Codable, Hashable, Sendable {
    public var challengeId: String
    /// The recovered credential, base64.
    public var credential: String

    public init(challengeId: String, credential: String) {
        self.challengeId = challengeId
        self.credential = credential
    }
}

/// Step 2's answer: the agent's client certificate and the region CA.
public struct EnrolmentCertificate: Codable, Hashable, Sendable {
    public var hostId: String
    public var akName: String
    /// PEM.
    public var certificate: String
    /// PEM of the region CA.
    public var caCertificate: String

    public init(hostId: String, akName: String, certificate: String, caCertificate: String) {
        self.hostId = hostId
        self.akName = akName
        self.certificate = certificate
        self.caCertificate = caCertificate
    }
}

/// The error body every region endpoint answers with.
public struct RegionErrorBody: Codable, Hashable, Sendable, Error {
    public var code: String
    public var message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
}
