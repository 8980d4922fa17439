package import Foundation
import GRDB

/// An agent certificate the region CA issued (`rctcb certs`).
package struct IssuedCertificate: Sendable, Hashable, Codable {
    /// The certificate's serial number, hex; `enrolled-before-renewal` for a certificate issued before the RC-TCB
    /// recorded serials (its expiry is its enrolment's plus the validity).
    package var serial: String
    package var host: String
    package var akName: String?
    package var issuedAt: Date
    package var notAfter: Date
    /// `enrolment` or `renewal`.
    package var issuedBy: String
    /// Whether it is the host's newest certificate for its enrolled AK, and the host is not revoked: the one the
    /// agent uses. Older ones are superseded (still valid until they expire, but not the agent's).
    package var current: Bool = false

    package init(serial: String, host: String, akName: String?, issuedAt: Date, notAfter: Date, issuedBy: String) {
        (self.serial, self.host, self.akName, self.issuedAt, self.notAfter, self.issuedBy) = (serial, host, akName, issuedAt, notAfter, issuedBy)
    }

    /// Whole days until it expires (negative once it has).
    package func daysToExpiry(now: Date) -> Double { notAfter.timeIntervalSince(now) / 86_400 }
}

extension IVTStore {
    static func registerCertificates(_ m: inout DatabaseMigrator) {
        m.registerMigration("v7: issued certificates") { db in
            try db.execute(sql: """
                CREATE TABLE certificate (
                    serial TEXT PRIMARY KEY NOT NULL, host TEXT NOT NULL, ak_name TEXT,
                    issued_at REAL NOT NULL, not_after REAL NOT NULL, issued_by TEXT NOT NULL
                );
                CREATE INDEX certificate_host ON certificate (host, issued_at);
                INSERT INTO certificate (serial, host, ak_name, issued_at, not_after, issued_by)
                    SELECT 'enrolled-before-renewal:' || id, id, ak_name, enrolled_at, enrolled_at + \(RegionCA.leafValidity), 'enrolment'
                    FROM host WHERE ak_public IS NOT NULL AND enrolled_at IS NOT NULL;
                """)
        }
    }

    /// Records a certificate the region CA issued to an agent; with `audit`, as an audit event of its own
    /// (`certificate-renewed`: a renewal; an enrolment's certificate is told by its `enrolled` event).
    package func recordCertificate(_ c: IssuedCertificate, audit kind: String? = nil, now: Date = Date()) throws(RegionError) {
        try write { db in
            try db.execute(sql: "INSERT INTO certificate (serial, host, ak_name, issued_at, not_after, issued_by) VALUES (?, ?, ?, ?, ?, ?)",
                           arguments: [c.serial, c.host, c.akName, c.issuedAt.timeIntervalSince1970, c.notAfter.timeIntervalSince1970, c.issuedBy])
            if let kind {
                try Self.audit(db, now, host: c.host, kind: kind, old: nil, new: nil, code: nil,
                               detail: "serial \(c.serial), AK \(c.akName ?? "-"), valid until \(c.notAfter.formatted(.iso8601))")
            }
        }
    }

    /// Every agent certificate recorded, by host and then newest first, each marked current or not.
    package func certificates() throws(RegionError) -> [IssuedCertificate] {
        try read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT c.serial, c.host, c.ak_name, c.issued_at, c.not_after, c.issued_by, h.ak_name AS enrolled, h.revoked
                FROM certificate c LEFT JOIN host h ON h.id = c.host ORDER BY c.host, c.issued_at DESC, c.rowid DESC
                """)
            var seen: Set<String> = []
            return try rows.map { r in
                var c = IssuedCertificate(serial: try r.decode(atIndex: 0), host: try r.decode(atIndex: 1), akName: try r.decode(atIndex: 2),
                                          issuedAt: Date(timeIntervalSince1970: try r.decode(atIndex: 3)),
                                          notAfter: Date(timeIntervalSince1970: try r.decode(atIndex: 4)), issuedBy: try r.decode(atIndex: 5))
                let enrolled: String? = try r.decode(atIndex: 6)
                let revoked: Bool? = try r.decode(atIndex: 7)
                if !seen.contains(c.host), let enrolled, enrolled == c.akName, revoked == false {
                    c.current = true
                    seen.insert(c.host)
                }
                return c
            }
        }
    }
}
