import Policy
import TPMWire

extension AttestationError.Code {
    /// The bundle's measurement log records PCRs the quote does not cover: nothing vouches for it.
    public static let logNotQuoted = Self(rawValue: "evidence.log-not-quoted")
    /// The bundle's measurement log does not replay to the quoted PCR values.
    public static let logMismatch = Self(rawValue: "evidence.log-mismatch")
    /// The bundle names another host than the one whose AK verified it.
    public static let hostMismatch = Self(rawValue: "evidence.host-mismatch")
}

extension EvidenceBundle {
    /// What the bundle claims beyond the quote, checked against the verified quote: its measurement log must
    /// replay to the quoted runtime PCRs (SHA-256 bank), and — when the AK was pinned through a host's enrolment —
    /// its host id must be that host. Returns the first failure, nil when every claim holds.
    public func claimsError(of quote: VerifiedQuote, enrolledHost: String?) -> AttestationError? {
        if let enrolledHost, hostId != enrolledHost {
            return AttestationError(.hostMismatch, "the bundle names host '\(hostId.prefix(64))', the AK is enrolled for \(enrolledHost)")
        }
        guard let records = eventLog, !records.isEmpty else { return nil }
        let quoted = quote.pcrs[.sha256] ?? [:]
        let logged = Set(records.map(\.pcr))
        let missing = logged.subtracting(quoted.keys).sorted()
        guard missing.isEmpty else {
            return AttestationError(.logNotQuoted, "the measurement log extends PCR \(missing.map(String.init).joined(separator: ",")) but the quote does not cover it in sha256")
        }
        do { try MeasurementReplay.check(records, against: quoted, bank: .sha256, pcrs: logged) } catch {
            return AttestationError(.logMismatch, "the measurement log does not replay to the quoted PCRs: \(error)")
        }
        return nil
    }
}
