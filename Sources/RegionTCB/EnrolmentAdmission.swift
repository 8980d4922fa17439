package import Policy
import TPMWire

/// Who may enrol as a host: decided from the host's IVT row, the region policy's EK pin and the EK that asks,
/// before the RC-TCB verifies a certificate chain or makes a credential, and again before it records the
/// enrolment. The request's EK and AK come from anyone (they are public): this only ever narrows.
package struct EnrolmentAdmission: Sendable {
    package var standing: EnrolmentStanding
    /// The region policy's pin for this host, if it has one.
    package var pin: RegionPolicy.EKPin?

    package init(standing: EnrolmentStanding, pin: RegionPolicy.EKPin?) {
        self.standing = standing
        self.pin = pin
    }

    /// Refuses, with its own code, an enrolment of the AK named `akName` under the EK named `ekName` whose
    /// certificate hashes to `ekCertificateSHA256`.
    package func check(akName: String, ekName: [UInt8], ekCertificateSHA256: [UInt8]) throws(RegionError) {
        let host = standing.host
        if standing.revoked { throw RegionError(.revoked, "host \(host) was revoked; the operator must re-admit it (rctcb readmit)") }
        if let enrolled = standing.enrolledAKName {
            guard enrolled == akName else {
                throw RegionError(.akChanged, "host \(host) enrolled AK \(enrolled); a new AK needs the operator's re-admission (rctcb readmit)")
            }
            throw RegionError(.alreadyEnrolled, "host \(host) is enrolled with this AK; enrolling again needs the operator's re-admission (rctcb readmit)")
        }
        if let pin, !pin.admits(certificateSHA256: ekCertificateSHA256, name: ekName) {
            throw RegionError(.ekNotPinned, "the region policy pins host \(host) to \(pin.summary); this EK is named \(Hex.encode(ekName))")
        }
        if let allowed = standing.readmission, !allowed.admits(certificateSHA256: ekCertificateSHA256, name: ekName) {
            throw RegionError(.ekNotAllowed, "host \(host) was re-admitted for \(allowed.summary); another EK needs `rctcb readmit \(host) --ek-cert-sha256 HEX` or `--any-ek`")
        }
    }
}
