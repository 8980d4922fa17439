import RegionProtocol
internal import CodedError

/// Why the RC-TCB refused something: a stable code, a one-line reason. Refusals are results the service
/// answers with (HTTP 4xx), never traps.
package struct RegionError: CodedError {
    package struct Code: ErrorCode, Codable {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        // Region directory and CA.
        package static let directoryExists = Code(rawValue: "rctcb.directory-exists")
        package static let directoryMissing = Code(rawValue: "rctcb.directory-missing")
        /// Another running RC-TCB serves the directory (it holds `DIR/rctcb.lock`).
        package static let directoryInUse = Code(rawValue: "rctcb.directory-in-use")
        /// The listen address and port are taken by another socket.
        package static let addressInUse = Code(rawValue: "rctcb.address-in-use")
        /// The service cannot listen on the address it was given (not an address of this machine, not allowed).
        package static let cannotListen = Code(rawValue: "rctcb.cannot-listen")
        package static let unsafeFile = Code(rawValue: "rctcb.unsafe-file")
        package static let badKeyFile = Code(rawValue: "rctcb.bad-key-file")
        package static let badCertificateFile = Code(rawValue: "rctcb.bad-certificate-file")
        /// `rctcb init --root-ca`: a root that cannot issue the region's issuing CA (not a CA, path length 0, no
        /// keyCertSign, expired) or whose key is not the certificate's.
        package static let badRootCA = Code(rawValue: "rctcb.bad-root-ca")
        package static let storeFailed = Code(rawValue: "rctcb.store-failed")
        package static let storeCorrupt = Code(rawValue: "rctcb.store-corrupt")
        /// The region store's database URL is not one the store can use (scheme, host, port, user, database).
        package static let storeBadURL = Code(rawValue: "store.bad-url")
        /// The region store's database server cannot be reached or refused the connection (address, login, database).
        package static let storeUnreachable = Code(rawValue: "store.unreachable")
        /// A write carried a leader lease that is no longer the region's (it expired, or another RC-TCB leads with
        /// a later epoch): the database refused it and the writer must step down.
        package static let storeFenced = Code(rawValue: "store.fenced")
        /// A VM inventory file was given to an RC-TCB whose store keeps the region's inventory itself (PostgreSQL).
        package static let storeInventoryFile = Code(rawValue: "store.inventory-file")

        // Enrolment.
        package static let unknownHost = Code(rawValue: "enrol.unknown-host")
        package static let badHostId = Code(rawValue: "enrol.bad-host-id")
        package static let malformedRequest = Code(rawValue: "enrol.malformed-request")
        package static let ekCertificateUntrusted = Code(rawValue: "enrol.ek-certificate-untrusted")
        package static let ekCertificateMismatch = Code(rawValue: "enrol.ek-certificate-mismatch")
        package static let ekTemplate = Code(rawValue: "enrol.ek-template")
        package static let akAttributes = Code(rawValue: "enrol.ak-attributes")
        package static let akChanged = Code(rawValue: "enrol.ak-changed")
        package static let revoked = Code(rawValue: "enrol.revoked")
        package static let unknownChallenge = Code(rawValue: "enrol.unknown-challenge")
        package static let challengeExpired = Code(rawValue: "enrol.challenge-expired")
        package static let activationFailed = Code(rawValue: "enrol.activation-failed")
        package static let notEnrolled = Code(rawValue: "enrol.not-enrolled")
        /// The host is enrolled (with this AK) and not re-admitted: there is nothing to enrol.
        package static let alreadyEnrolled = Code(rawValue: "enrol.already-enrolled")
        /// The EK is not the one the region policy pins for this host.
        package static let ekNotPinned = Code(rawValue: "enrol.ek-not-pinned")
        /// The EK is not the one the operator's re-admission allows (by default the EK the host enrolled with).
        package static let ekNotAllowed = Code(rawValue: "enrol.ek-not-allowed")
        /// The EK is enrolled as another host: one TPM is one host.
        package static let ekBoundElsewhere = Code(rawValue: "enrol.ek-bound-elsewhere")
        /// `rctcb readmit --same-ek` for a host whose enrolled EK was never recorded.
        package static let noEKBinding = Code(rawValue: "enrol.no-ek-binding")

        // Why a host is in its state (recorded on its IVT row and in its events).
        /// The host did not answer within the unreachable timeout.
        package static let hostUnreachable = Code(rawValue: "host.unreachable")
        /// The host's last verified quote is older than the quote freshness.
        package static let quoteStale = Code(rawValue: "quote.stale")
        /// A rebooted host was trusted again because the operator accepted its reboot.
        package static let rebootAcceptedByOperator = Code(rawValue: "reboot.accepted-by-operator")
        /// A rebooted host was trusted again without a boot log, as its policy allows (`boot-log: optional`).
        package static let rebootAcceptedWithoutBootLog = Code(rawValue: "reboot.accepted-without-boot-log")

        // Access.
        package static let forbidden = Code(rawValue: AccessCode.forbidden.rawValue)
        package static let noClientCertificate = Code(rawValue: AccessCode.noClientCertificate.rawValue)
        /// A caller made requests faster than its budget allows (HTTP 429, `Retry-After`; ``RequestBudget``).
        package static let rateLimited = Code(rawValue: RateLimitedRetry.code)
    }

    package let code: Code
    package let reason: String
    /// What the operator can do about it, where something helps.
    package let hint: String?

    package init(_ code: Code, _ reason: String, hint: String? = nil) {
        self.code = code
        self.reason = reason
        self.hint = hint
    }

    package var description: String { hint.map { "\(code): \(reason) (hint: \($0))" } ?? "\(code): \(reason)" }
}
