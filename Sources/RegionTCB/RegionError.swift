/// Why the RC-TCB refused something: a stable code, a one-line reason. Refusals are results the service
/// answers with (HTTP 4xx), never traps.
public struct RegionError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // Region directory and CA.
        public static let directoryExists = Code(rawValue: "rctcb.directory-exists")
        public static let directoryMissing = Code(rawValue: "rctcb.directory-missing")
        public static let unsafeFile = Code(rawValue: "rctcb.unsafe-file")
        public static let badKeyFile = Code(rawValue: "rctcb.bad-key-file")
        public static let badCertificateFile = Code(rawValue: "rctcb.bad-certificate-file")
        public static let storeFailed = Code(rawValue: "rctcb.store-failed")
        public static let storeCorrupt = Code(rawValue: "rctcb.store-corrupt")

        // Enrolment.
        public static let unknownHost = Code(rawValue: "enrol.unknown-host")
        public static let badHostId = Code(rawValue: "enrol.bad-host-id")
        public static let malformedRequest = Code(rawValue: "enrol.malformed-request")
        public static let ekCertificateUntrusted = Code(rawValue: "enrol.ek-certificate-untrusted")
        public static let ekCertificateMismatch = Code(rawValue: "enrol.ek-certificate-mismatch")
        public static let ekTemplate = Code(rawValue: "enrol.ek-template")
        public static let akAttributes = Code(rawValue: "enrol.ak-attributes")
        public static let akChanged = Code(rawValue: "enrol.ak-changed")
        public static let revoked = Code(rawValue: "enrol.revoked")
        public static let unknownChallenge = Code(rawValue: "enrol.unknown-challenge")
        public static let challengeExpired = Code(rawValue: "enrol.challenge-expired")
        public static let activationFailed = Code(rawValue: "enrol.activation-failed")
        public static let notEnrolled = Code(rawValue: "enrol.not-enrolled")
        public static let busy = Code(rawValue: "enrol.busy")

        // Access.
        public static let forbidden = Code(rawValue: "auth.forbidden")
        public static let noClientCertificate = Code(rawValue: "auth.no-client-certificate")
    }

    public let code: Code
    public let reason: String

    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    public var description: String { "\(code): \(reason)" }
}
