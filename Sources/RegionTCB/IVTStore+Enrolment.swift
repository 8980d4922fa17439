package import Foundation
import GRDB
import TPMWire

/// What the operator lets enrol as a host after `rctcb readmit`.
package enum EKAllowance: Sendable, Hashable {
    /// The EK the host enrolled with (resolved to its Name, or its certificate hash, when the readmission is recorded).
    case sameEK
    /// Any EK whose certificate chains to a trusted EK CA (a replaced TPM, a re-installed machine).
    case anyEK
    /// The EK whose certificate (DER) has this SHA-256.
    case certificateSHA256([UInt8])
    /// The EK with this TPM Name.
    case name([UInt8])

    /// Whether an EK with this certificate hash and Name may enrol (`sameEK` is resolved before it is stored).
    package func admits(certificateSHA256 hash: [UInt8], name: [UInt8]) -> Bool {
        switch self {
        case .anyEK: true
        case .certificateSHA256(let h): h == hash
        case .name(let n): n == name
        case .sameEK: false
        }
    }

    /// `.sameEK` as the EK the host enrolled with (its Name, else its certificate hash); `enrol.no-ek-binding` when
    /// it has none recorded. Any other allowance as it is.
    package func resolved(host: String, ekName: String?, ekCertificateSHA256: String?) throws(RegionError) -> EKAllowance {
        guard self == .sameEK else { return self }
        if let bytes = ekName.flatMap(Hex.decode) { return .name(bytes) }
        if let bytes = ekCertificateSHA256.flatMap(Hex.decode) { return .certificateSHA256(bytes) }
        throw RegionError(.noEKBinding, "host \(host) has no recorded EK to re-admit; name the EK it may enrol with (--ek-cert-sha256 HEX) or allow any (--any-ek)")
    }

    /// What it allows, for people and the audit trail.
    package var summary: String {
        switch self {
        case .sameEK: "the EK it enrolled with"
        case .anyEK: "any EK certified by a trusted EK CA"
        case .certificateSHA256(let h): "the EK whose certificate has sha256 \(Hex.encode(h))"
        case .name(let n): "the EK named \(Hex.encode(n))"
        }
    }

    /// The column text (`any`, `cert-sha256:HEX`, `name:HEX`).
    package var stored: String? {
        switch self {
        case .sameEK: nil
        case .anyEK: "any"
        case .certificateSHA256(let h): "cert-sha256:" + Hex.encode(h)
        case .name(let n): "name:" + Hex.encode(n)
        }
    }

    package init?(stored text: String) {
        if text == "any" { self = .anyEK; return }
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let bytes = Hex.decode(parts[1]), !bytes.isEmpty else { return nil }
        switch parts[0] {
        case "cert-sha256": self = .certificateSHA256(bytes)
        case "name": self = .name(bytes)
        default: return nil
        }
    }
}

/// What enrolment needs to know about a host before it makes a credential: one read of its row.
package struct EnrolmentStanding: Sendable, Hashable {
    package var host: String
    package var revoked: Bool
    /// The enrolled AK's Name; nil when the host has never enrolled or was re-admitted.
    package var enrolledAKName: String?
    /// The EK the host last enrolled with (kept across a re-admission).
    package var ekName: String?
    package var ekCertificateSHA256: String?
    /// What the last re-admission allows to enrol; nil when the host was not re-admitted since it enrolled.
    package var readmission: EKAllowance?

    package init(host: String, revoked: Bool, enrolledAKName: String?, ekName: String?, ekCertificateSHA256: String?, readmission: EKAllowance?) {
        (self.host, self.revoked, self.enrolledAKName, self.ekName) = (host, revoked, enrolledAKName, ekName)
        (self.ekCertificateSHA256, self.readmission) = (ekCertificateSHA256, readmission)
    }
}

extension IVTStore {
    /// The EK binding: which EK each host enrolled with and what a re-admission allows next.
    static func registerEKBinding(_ m: inout DatabaseMigrator) {
        m.registerMigration("v3: ek binding") { db in
            try db.execute(sql: """
                ALTER TABLE host ADD COLUMN ek_name TEXT;
                ALTER TABLE host ADD COLUMN ek_cert_sha256 TEXT;
                ALTER TABLE host ADD COLUMN readmitted_ek TEXT;
                CREATE INDEX host_ek_name ON host(ek_name);
                """)
        }
    }

    /// The host's enrolment standing, or nil when the host is not in the IVT.
    package func enrolmentStanding(_ host: String) throws(RegionError) -> EnrolmentStanding? {
        try read { db in
            guard let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT revoked, ak_name, ak_public IS NOT NULL AS enrolled, ek_name, ek_cert_sha256, readmitted_ek FROM host WHERE id = ?"),
                                           arguments: [host]) else { return nil }
            var readmission: EKAllowance?
            if let text: String = try r.decode(forColumn: "readmitted_ek") {
                guard let allowance = EKAllowance(stored: text) else {
                    throw RegionError(.storeCorrupt, "table host, row \(host), column readmitted_ek: '\(text.prefix(80))' is not an EK allowance")
                }
                readmission = allowance
            }
            let enrolled: Bool = try r.decode(forColumn: "enrolled")
            return EnrolmentStanding(host: host, revoked: try r.decode(forColumn: "revoked"),
                                     enrolledAKName: enrolled ? try r.decode(forColumn: "ak_name") ?? "" : nil,
                                     ekName: try r.decode(forColumn: "ek_name"), ekCertificateSHA256: try r.decode(forColumn: "ek_cert_sha256"),
                                     readmission: readmission)
        }
    }

    /// Another host enrolled (revoked or not) with the EK named `ekName`, if any.
    package func host(enrolledWithEK ekName: String, other host: String) throws(RegionError) -> String? {
        try read { db in
            try String.fetchOne(db.cachedStatement(sql: "SELECT id FROM host WHERE ek_name = ? AND id != ? AND ak_public IS NOT NULL LIMIT 1"),
                                arguments: [ekName, host])
        }
    }

    /// Records a completed enrolment (AK, EK certificate identity, EK Name and certificate hash) as an audited
    /// event; clears a revocation and what the last re-admission allowed.
    package func recordEnrolment(host: String, akPublic: [UInt8], akName: String, ekCertificate: String, ekName: String? = nil,
                                 ekCertificateSHA256: String? = nil, now: Date = Date()) throws(RegionError) {
        try write { db in
            try db.execute(sql: """
                UPDATE host SET ak_public = ?, ak_name = ?, ek_certificate = ?, ek_name = ?, ek_cert_sha256 = ?, enrolled_at = ?, revoked = 0,
                    readmitted_ek = NULL WHERE id = ?
                """, arguments: [Data(akPublic), akName, ekCertificate, ekName, ekCertificateSHA256, now.timeIntervalSince1970, host])
            guard db.changesCount == 1 else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            let ek = ekName.map { "EK name \($0), " } ?? ""
            _ = try Self.transition(db, .enrolled(detail: "AK \(akName); \(ek)EK \(ekCertificate)"), host: host, now: now)
        }
    }

    /// The operator lets a host enrol again with the EK that `allowing` names: its enrolled AK is forgotten, its
    /// revocation lifted, and the audit event says what may enrol. `.sameEK` is resolved to the EK the host
    /// enrolled with (its Name, else its certificate hash); a host with none recorded needs an explicit EK.
    /// Returns what was recorded.
    @discardableResult
    package func readmit(host: String, allowing: EKAllowance = .sameEK, now: Date = Date()) throws(RegionError) -> EKAllowance {
        try write { db in
            guard let r = try Row.fetchOne(db, sql: "SELECT ek_name, ek_cert_sha256 FROM host WHERE id = ?", arguments: [host]) else {
                throw RegionError(.unknownHost, "host \(host) is not in the IVT")
            }
            let allowance = try allowing.resolved(host: host, ekName: r.decode(forColumn: "ek_name"), ekCertificateSHA256: r.decode(forColumn: "ek_cert_sha256"))
            try db.execute(sql: """
                UPDATE host SET revoked = 0, ak_public = NULL, ak_name = NULL, ek_certificate = NULL, enrolled_at = NULL, readmitted_ek = ?
                WHERE id = ?
                """, arguments: [allowance.stored, host])
            _ = try Self.transition(db, .readmitted(detail: "may enrol with \(allowance.summary)"), host: host, now: now)
            return allowance
        }
    }
}
