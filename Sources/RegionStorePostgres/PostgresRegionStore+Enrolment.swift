package import Foundation
import PostgresNIO
package import RegionTCB

/// Enrolments, the certificates the region CA issued, and the evacuation records in PostgreSQL (``RegionStore``).
extension PostgresRegionStore {
    package func enrolment(_ host: String) async throws(RegionError) -> Enrolment? {
        try await run {
            let rows = try await self.client.query("""
                SELECT ak_public, ak_name, ek_certificate, enrolled_at, revoked FROM host WHERE region = \(self.region) AND id = \(host)
                """, logger: self.logger)
            guard let row = try await Self.first(rows) else { return nil }
            let r = row.makeRandomAccess()
            guard let ak = try r[0].decode(Data?.self) else { return nil }
            return Enrolment(host: host, akPublic: [UInt8](ak), akName: try r[1].decode(String?.self) ?? "",
                             ekCertificate: try r[2].decode(String?.self) ?? "",
                             enrolledAt: Date(timeIntervalSince1970: try r[3].decode(Double?.self) ?? 0), revoked: try r[4].decode(Bool.self))
        }
    }

    package func enrolmentStanding(_ host: String) async throws(RegionError) -> EnrolmentStanding? {
        try await run {
            let rows = try await self.client.query("""
                SELECT revoked, ak_name, ak_public IS NOT NULL, ek_name, ek_cert_sha256, readmitted_ek FROM host
                WHERE region = \(self.region) AND id = \(host)
                """, logger: self.logger)
            guard let row = try await Self.first(rows) else { return nil }
            let r = row.makeRandomAccess()
            var readmission: EKAllowance?
            if let text = try r[5].decode(String?.self) {
                guard let allowance = EKAllowance(stored: text) else {
                    throw RegionError(.storeCorrupt, "table host, row \(host), column readmitted_ek: '\(text.prefix(80))' is not an EK allowance")
                }
                readmission = allowance
            }
            return EnrolmentStanding(host: host, revoked: try r[0].decode(Bool.self),
                                     enrolledAKName: try r[2].decode(Bool.self) ? try r[1].decode(String?.self) ?? "" : nil,
                                     ekName: try r[3].decode(String?.self), ekCertificateSHA256: try r[4].decode(String?.self), readmission: readmission)
        }
    }

    package func host(enrolledWithEK ekName: String, other host: String) async throws(RegionError) -> String? {
        try await run {
            let rows = try await self.client.query("""
                SELECT id FROM host WHERE region = \(self.region) AND ek_name = \(ekName) AND id != \(host) AND ak_public IS NOT NULL LIMIT 1
                """, logger: self.logger)
            return try await Self.first(rows)?.decode(String.self)
        }
    }

    package func recordEnrolment(host: String, akPublic: [UInt8], akName: String, ekCertificate: String, ekName: String?,
                                 ekCertificateSHA256: String?, now: Date) async throws(RegionError) {
        try await transaction { c in
            let updated = try await c.query("""
                UPDATE host SET ak_public = \(Data(akPublic)), ak_name = \(akName), ek_certificate = \(ekCertificate), ek_name = \(ekName),
                    ek_cert_sha256 = \(ekCertificateSHA256), enrolled_at = \(now.timeIntervalSince1970), revoked = false, readmitted_ek = NULL
                WHERE region = \(self.region) AND id = \(host) RETURNING id
                """, logger: self.logger)
            guard try await Self.first(updated) != nil else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            let ek = ekName.map { "EK name \($0), " } ?? ""
            _ = try await self.transition(c, .enrolled(detail: "AK \(akName); \(ek)EK \(ekCertificate)"), host: host, now: now)
        }
    }

    package func revoke(host: String, now: Date) async throws(RegionError) {
        try await transaction { c in
            let updated = try await c.query("UPDATE host SET revoked = true WHERE region = \(self.region) AND id = \(host) RETURNING id",
                                            logger: self.logger)
            guard try await Self.first(updated) != nil else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            _ = try await self.transition(c, .revoked, host: host, now: now)
        }
    }

    package func readmit(host: String, allowing: EKAllowance, now: Date) async throws(RegionError) -> EKAllowance {
        try await transaction { c in
            let rows = try await c.query("""
                SELECT ek_name, ek_cert_sha256 FROM host WHERE region = \(self.region) AND id = \(host) FOR UPDATE
                """, logger: self.logger)
            guard let r = try await Self.first(rows) else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            let (name, hash) = try r.decode((String?, String?).self)
            let allowance = try allowing.resolved(host: host, ekName: name, ekCertificateSHA256: hash)
            try await c.query("""
                UPDATE host SET revoked = false, ak_public = NULL, ak_name = NULL, ek_certificate = NULL, enrolled_at = NULL,
                    readmitted_ek = \(allowance.stored) WHERE region = \(self.region) AND id = \(host)
                """, logger: self.logger)
            _ = try await self.transition(c, .readmitted(detail: "may enrol with \(allowance.summary)"), host: host, now: now)
            return allowance
        }
    }

    package func recordCertificate(_ cert: IssuedCertificate, audit kind: String?, now: Date) async throws(RegionError) {
        try await transaction { c in
            try await c.query("""
                INSERT INTO certificate (region, serial, host, ak_name, issued_at, not_after, issued_by)
                VALUES (\(self.region), \(cert.serial), \(cert.host), \(cert.akName), \(cert.issuedAt.timeIntervalSince1970),
                        \(cert.notAfter.timeIntervalSince1970), \(cert.issuedBy))
                """, logger: self.logger)
            if let kind {
                try await self.audit(c, now, host: cert.host, kind: kind, old: nil, new: nil, code: nil,
                                     detail: "serial \(cert.serial), AK \(cert.akName ?? "-"), valid until \(cert.notAfter.formatted(.iso8601))")
            }
        }
    }

    package func certificates() async throws(RegionError) -> [IssuedCertificate] {
        try await run {
            let rows = try await self.client.query("""
                SELECT c.serial, c.host, c.ak_name, c.issued_at, c.not_after, c.issued_by, h.ak_name, h.revoked
                FROM certificate c LEFT JOIN host h ON h.region = c.region AND h.id = c.host
                WHERE c.region = \(self.region) ORDER BY c.host, c.issued_at DESC, c.recorded DESC
                """, logger: self.logger)
            var seen: Set<String> = []
            var issued: [IssuedCertificate] = []
            for try await row in rows {
                let r = row.makeRandomAccess()
                var cert = IssuedCertificate(serial: try r[0].decode(String.self), host: try r[1].decode(String.self), akName: try r[2].decode(String?.self),
                                             issuedAt: Date(timeIntervalSince1970: try r[3].decode(Double.self)),
                                             notAfter: Date(timeIntervalSince1970: try r[4].decode(Double.self)), issuedBy: try r[5].decode(String.self))
                if !seen.contains(cert.host), let enrolled = try r[6].decode(String?.self), enrolled == cert.akName, try r[7].decode(Bool?.self) == false {
                    cert.current = true
                    seen.insert(cert.host)
                }
                issued.append(cert)
            }
            return issued
        }
    }

    // MARK: Evacuation records

    static let evacuationColumns = "id, host, cause_state, cause_code, cause_detail, started_at, ended_at, outcome, detail"

    package func openEvacuation(host: String, state: HostState, code: String?, detail: String?, now: Date) async throws(RegionError) -> EvacuationRecord {
        try await transaction { c in
            // The host's row lock serialises two openings of one host's evacuation.
            try await c.query("SELECT id FROM host WHERE region = \(self.region) AND id = \(host) FOR UPDATE", logger: self.logger)
            let open = try await c.query("""
                SELECT \(unescaped: Self.evacuationColumns) FROM evacuation WHERE region = \(self.region) AND host = \(host) AND ended_at IS NULL
                """, logger: self.logger)
            if let r = try await Self.first(open) { return try Self.decodeEvacuation(r) }
            let inserted = try await c.query("""
                INSERT INTO evacuation (region, host, cause_state, cause_code, cause_detail, started_at)
                VALUES (\(self.region), \(host), \(state.rawValue), \(code), \(detail), \(now.timeIntervalSince1970))
                RETURNING \(unescaped: Self.evacuationColumns)
                """, logger: self.logger)
            guard let r = try await Self.first(inserted) else { throw RegionError(.storeFailed, "table evacuation: nothing returned") }
            return try Self.decodeEvacuation(r)
        }
    }

    package func currentEvacuation(host: String) async throws(RegionError) -> EvacuationRecord? {
        try await run {
            let rows = try await self.client.query("""
                SELECT \(unescaped: Self.evacuationColumns) FROM evacuation WHERE region = \(self.region) AND host = \(host) AND ended_at IS NULL
                """, logger: self.logger)
            return try await Self.first(rows).map(Self.decodeEvacuation)
        }
    }

    package func closeEvacuation(host: String, outcome: String, detail: String, now: Date) async throws(RegionError) {
        try await transaction { c in
            try await c.query("""
                UPDATE evacuation SET ended_at = \(now.timeIntervalSince1970), outcome = \(outcome), detail = \(detail)
                WHERE region = \(self.region) AND host = \(host) AND ended_at IS NULL
                """, logger: self.logger)
        }
    }

    package func evacuations(limit: Int) async throws(RegionError) -> [EvacuationRecord] {
        try await run {
            var records: [EvacuationRecord] = []
            let rows = try await self.client.query("""
                SELECT \(unescaped: Self.evacuationColumns) FROM evacuation WHERE region = \(self.region) ORDER BY id DESC LIMIT \(limit)
                """, logger: self.logger)
            for try await r in rows { records.append(try Self.decodeEvacuation(r)) }
            return records
        }
    }

    static func decodeEvacuation(_ row: PostgresRow) throws -> EvacuationRecord {
        let r = row.makeRandomAccess()
        return EvacuationRecord(id: try r[0].decode(Int64.self), host: try r[1].decode(String.self), causeState: try r[2].decode(String.self),
                                causeCode: try r[3].decode(String?.self), causeDetail: try r[4].decode(String?.self),
                                startedAt: Date(timeIntervalSince1970: try r[5].decode(Double.self)),
                                endedAt: try r[6].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
                                outcome: try r[7].decode(String?.self), detail: try r[8].decode(String?.self))
    }
}
