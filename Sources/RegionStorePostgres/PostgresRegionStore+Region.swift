import Attestation
package import Foundation
import Migration
import PostgresNIO
package import RegionTCB

/// The rest of ``RegionStore`` in PostgreSQL: aggregated refusals, kept evidence, the VM placement, accepted
/// reboots, enrolments, certificates and evacuation records, each of this store's region only, each write fenced
/// like every other (``transaction(_:)``). The SQLite store's statements, in PostgreSQL's dialect.
extension PostgresRegionStore {
    package func auditAggregated(host: String?, kind: String, code: String, detail: String, window: TimeInterval,
                                 now: Date) async throws(RegionError) {
        // A refusal's detail may quote the refused request (``Swift/String/storable``).
        let (code, detail) = (code.storable, detail.storable)
        try await transaction { c in
            // The region's audit lock first: two refusals at once must not both find no event and both add one.
            try await c.query("SELECT pg_advisory_xact_lock(hashtext(\(self.region)))", logger: self.logger)
            let found = try await c.query("""
                SELECT seq FROM event WHERE region = \(self.region) AND host IS NOT DISTINCT FROM \(host) AND kind = \(kind) AND code = \(code)
                    AND at >= \(now.timeIntervalSince1970 - window) ORDER BY seq DESC LIMIT 1
                """, logger: self.logger)
            if let r = try await Self.first(found) {
                try await c.query("""
                    UPDATE event SET count = count + 1, last_at = \(now.timeIntervalSince1970), detail = \(detail) WHERE seq = \(try r.decode(Int64.self))
                    """, logger: self.logger)
            } else {
                try await self.audit(c, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail)
            }
        }
    }

    /// One read for all who ask at once, each answered by a read that began after it asked (``PostgresBatch``): the
    /// RC-TCB asks before each agent request it serves (to see a revocation or an enrolment another process wrote),
    /// twice for a report, so under load many ask together. A caller that asks while a read is under way waits for
    /// the next one, so every answer is as fresh as a read of the caller's own.
    package func lastEventSeq() async throws(RegionError) -> Int64 {
        try await lastEventReads.submit(()) { asking throws(RegionError) in
            let seq = try await self.run {
                let rows = try await self.client.query("SELECT COALESCE(MAX(seq), 0) FROM event WHERE region = \(self.region)", logger: self.logger)
                return try await Self.first(rows)?.decode(Int64.self) ?? 0
            }
            return asking.map { _ in .success(seq) }
        }
    }

    package func recentEvents(host: String, limit: Int) async throws(RegionError) -> [IVTEvent] {
        let oldest = try await run {
            let rows = try await self.client.query("""
                SELECT MIN(seq) FROM (SELECT seq FROM event WHERE region = \(self.region) AND host = \(host) ORDER BY seq DESC LIMIT \(limit)) newest
                """, logger: self.logger)
            return try await Self.first(rows)?.decode(Int64?.self)
        }
        guard let oldest else { return [] }
        return try await events(since: oldest - 1, host: host, limit: limit)
    }

    // MARK: Evidence (kept by ``transition(_:_:host:judgedUnder:judged:fencedBy:now:)``, ``EvidenceKept``)

    package func evidence(host: String, bundles: Bool) async throws(RegionError) -> [KeptEvidence] {
        try await run {
            let rows = try await self.client.query("""
                SELECT seq, host, at, verdict, state_changed, event_seq, code, detail, measured_by, policy_digest,
                    CASE WHEN \(bundles) THEN bundle END
                FROM evidence WHERE region = \(self.region) AND host = \(host) ORDER BY seq DESC
                """, logger: self.logger)
            var kept: [KeptEvidence] = []
            for try await row in rows {
                let r = row.makeRandomAccess()
                let seq = try r[0].decode(Int64.self)
                let verdictText = try r[3].decode(String.self)
                guard let verdict = HostState(rawValue: verdictText) else {
                    throw RegionError(.storeCorrupt, "table evidence, row \(seq), column verdict: '\(verdictText.prefix(40))' is not a state")
                }
                var bundle: EvidenceBundle?
                if let data = try r[10].decode(Data?.self) {
                    do { bundle = try EvidenceBundle.decode(data) } catch {
                        throw RegionError(.storeCorrupt, "table evidence, row \(seq), column bundle: \(error)")
                    }
                }
                kept.append(KeptEvidence(seq: seq, host: try r[1].decode(String.self), at: Date(timeIntervalSince1970: try r[2].decode(Double.self)),
                                         verdict: verdict, stateChanged: try r[4].decode(Bool.self), eventSeq: try r[5].decode(Int64?.self),
                                         code: try r[6].decode(String?.self), detail: try r[7].decode(String?.self),
                                         measuredBy: try r[8].decode(String?.self), policyDigest: try r[9].decode(String?.self), bundle: bundle))
            }
            return kept
        }
    }

    // MARK: Placement and reboots

    package func setVMs(_ placement: [String: [String]], now: Date) async throws(RegionError) {
        try await transaction { c in
            try await self.lockHostRows(c, Array(placement.keys))
            for (host, vms) in placement.sorted(by: { $0.key < $1.key }) {
                try await c.query("UPDATE host SET vms = \(vms.sorted().joined(separator: ",")) WHERE region = \(self.region) AND id = \(host)",
                                  logger: self.logger)
            }
        }
    }

    package func acceptReboot(host: String, reason: String, now: Date) async throws(RegionError) -> RebootAcceptanceAnswer {
        let text = try RebootAcceptance.check(reason: reason)
        return try await transaction { c in
            let locked = try await c.query("""
                SELECT \(unescaped: Self.rowColumns) FROM host WHERE region = \(self.region) AND id = \(host) FOR UPDATE
                """, logger: self.logger)
            guard let r = try await Self.first(locked) else { throw RegionError(.hostUnknown, "host \(host.prefix(64)) is not in the IVT") }
            let row = try RebootAcceptance.requirePending(Self.decodeRow(r))
            try await c.query("UPDATE host SET reboot_accepted = \(text) WHERE region = \(self.region) AND id = \(host)", logger: self.logger)
            let seq = try await self.audit(c, now, host: host, kind: "accept-reboot", old: nil, new: nil, code: nil, detail: text)
            return RebootAcceptanceAnswer(host: host, state: row.state, reason: text, eventSeq: seq)
        }
    }
}
