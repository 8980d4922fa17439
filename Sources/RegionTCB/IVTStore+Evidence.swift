package import Attestation
package import Foundation
import GRDB
import RegionProtocol

/// An evidence bundle the RC-TCB kept with the verdict it led to (`host show --evidence`).
package struct KeptEvidence: Sendable, Hashable, Codable {
    package var seq: Int64
    package var host: String
    /// RC-TCB clock of the verdict.
    package var at: Date
    /// The state the verdict gave the host (its row may be `evacuating` meanwhile).
    package var verdict: HostState
    /// Whether the verdict changed the host's state; `eventSeq` is then the audit event it wrote.
    package var stateChanged: Bool
    package var eventSeq: Int64?
    package var code: String?
    package var detail: String?
    /// A ring neighbour's host id, or `rc-tcb` for the RC-TCB's own challenge.
    package var measuredBy: String?
    /// The policy the evidence was judged under (``LoadedRegionPolicy/digest``).
    package var policyDigest: String?
    /// The bundle as the host sent it: the quote, its PCR values, the measurement and boot logs. Nil in listings
    /// that did not ask for it.
    package var bundle: EvidenceBundle?

    package init(seq: Int64, host: String, at: Date, verdict: HostState, stateChanged: Bool, eventSeq: Int64?, code: String?, detail: String?,
                 measuredBy: String?, policyDigest: String?, bundle: EvidenceBundle?) {
        (self.seq, self.host, self.at, self.verdict, self.stateChanged, self.eventSeq) = (seq, host, at, verdict, stateChanged, eventSeq)
        (self.code, self.detail, self.measuredBy, self.policyDigest, self.bundle) = (code, detail, measuredBy, policyDigest, bundle)
    }
}

/// How much evidence the IVT keeps per host: the newest ``recent`` bundles whatever they led to, and the newest
/// bundles that changed the host's state, up to ``perHost`` in all. Older ones are deleted in the transaction that
/// adds a new one, so a host costs at most ``perHost`` bundles however long it runs.
package enum EvidenceRetention {
    package static let recent = 5
    package static let perHost = 50
}

/// An evidence bundle with the bytes the IVT keeps of it: the bytes the agent sent it in, when the report was read
/// from them; otherwise RegionJSON (ISO 8601 dates, sorted keys), the format agents send, encoded once where it was
/// judged.
/// Of the bundle itself only what the verdict's transition reads is carried to the store (whether it carried a boot
/// log), not its fields.
package struct JudgedEvidence: Sendable {
    package let bootLogSent: Bool
    package let stored: Data

    /// `bytes`: the document `bundle` was decoded from, exactly (`RegionJSON.decodeReportAsSent`); nil: encoded here.
    package init(_ bundle: EvidenceBundle, asSent bytes: Data? = nil) {
        self.bootLogSent = bundle.bootLog != nil
        self.stored = bytes ?? RegionJSON.fastEncode(bundle)
    }
}

extension IVTStore {
    static func registerEvidence(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5: evidence kept") { db in
            try db.execute(sql: """
                CREATE TABLE evidence (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    host TEXT NOT NULL, at REAL NOT NULL, verdict TEXT NOT NULL,
                    state_changed INTEGER NOT NULL, event_seq INTEGER,
                    code TEXT, detail TEXT, measured_by TEXT, policy_digest TEXT,
                    bundle BLOB NOT NULL
                );
                CREATE INDEX evidence_host ON evidence (host, seq);
                CREATE INDEX evidence_host_changed ON evidence (host, state_changed, seq);
                """)
        }
    }

    /// Keeps `bundle` with the verdict ``transition(_:host:judgedUnder:evidence:now:)`` just applied, and drops what
    /// ``EvidenceRetention`` no longer keeps of this host. A verdict that changed nothing rewrites the oldest of its
    /// host's ``EvidenceRetention/recent`` slots (``keepRecent(_:seq:bundle:verdict:applied:place:now:)``); one that
    /// changed the host's state is added to the `evidence` table, which keeps the host's newest ``EvidenceRetention/perHost``.
    static func keep(_ db: Database, bundle: Data, verdict: HostVerdict, applied: Applied, place: RecentEvidencePlace,
                     numbering: EvidenceNumbering, now: Date) throws {
        let seq = try numbering.next(db)
        guard applied.row.state != applied.old else {
            return try keepRecent(db, seq: seq, bundle: bundle, verdict: verdict, applied: applied, place: place, now: now)
        }
        let reason = verdict.reason
        try db.cachedStatement(sql: """
            INSERT INTO evidence (seq, host, at, verdict, state_changed, event_seq, code, detail, measured_by, policy_digest, bundle)
            VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [seq, applied.row.host, now.timeIntervalSince1970, verdict.state.rawValue,
                                     applied.eventSeq, reason.code, reason.detail, applied.row.measuredBy, applied.row.policyDigest, bundle])
        try db.cachedStatement(sql: """
            DELETE FROM evidence WHERE host = ?1 AND seq < (SELECT seq FROM evidence WHERE host = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2 - 1)
            """).execute(arguments: [applied.row.host, EvidenceRetention.perHost])
    }

    /// The evidence kept for `host`, newest first; with `bundles`, each with its bundle. The rule of
    /// ``EvidenceRetention`` is applied here over the two tables: a recent slot older than the host's newest
    /// ``EvidenceRetention/recent`` verdicts is not kept, though its slot is rewritten only by the host's next verdict
    /// that changes nothing.
    package func evidence(host: String, bundles: Bool = false) throws(RegionError) -> [KeptEvidence] {
        try read { db in
            let columns = "seq, host, at, verdict, state_changed, event_seq, code, detail, measured_by, policy_digest" + (bundles ? ", bundle" : "")
            // Each row names its table last, for the error of a row that does not decode.
            let table = bundles ? 11 : 10
            let all = try Row.fetchAll(db, sql: """
                SELECT \(columns), 'evidence' FROM evidence WHERE host = ?1
                UNION ALL
                SELECT \(columns.replacingOccurrences(of: "state_changed", with: "0")), 'evidence_recent' FROM evidence_recent
                 WHERE slot BETWEEN (SELECT evidence_ring * ?2 FROM host WHERE id = ?1) AND (SELECT evidence_ring * ?2 + ?2 - 1 FROM host WHERE id = ?1)
                   AND host = ?1
                ORDER BY seq DESC
                """, arguments: [host, Self.recentEvidenceStride]).map { r in
                let seq: Int64 = try r.decode(atIndex: 0)
                let verdictText: String = try r.decode(atIndex: 3)
                guard let verdict = HostState(rawValue: verdictText) else {
                    throw RegionError(.storeCorrupt, "table \(try r.decode(atIndex: table) as String), row \(seq), column verdict: '\(verdictText.prefix(40))' is not a state")
                }
                var bundle: EvidenceBundle?
                if bundles {
                    let data: Data = try r.decode(atIndex: 10)
                    do { bundle = try EvidenceBundle.decode(data) } catch {
                        throw RegionError(.storeCorrupt, "table \(try r.decode(atIndex: table) as String), row \(seq), column bundle: \(error)")
                    }
                }
                return KeptEvidence(seq: seq, host: try r.decode(atIndex: 1), at: Date(timeIntervalSince1970: try r.decode(atIndex: 2)),
                                    verdict: verdict, stateChanged: try r.decode(atIndex: 4), eventSeq: try r.decode(atIndex: 5),
                                    code: try r.decode(atIndex: 6), detail: try r.decode(atIndex: 7), measuredBy: try r.decode(atIndex: 8),
                                    policyDigest: try r.decode(atIndex: 9), bundle: bundle)
            }
            return all.enumerated().filter { $0.offset < EvidenceRetention.recent || $0.element.stateChanged }
                .prefix(EvidenceRetention.perHost).map(\.element)
        }
    }

    /// The newest `limit` audit events of `host`, oldest first (its history for `host show`).
    package func recentEvents(host: String, limit: Int) throws(RegionError) -> [IVTEvent] {
        let newest = try read { db in
            try Int64.fetchAll(db, sql: "SELECT seq FROM event WHERE host = ? ORDER BY seq DESC LIMIT ?", arguments: [host, limit])
        }
        guard let first = newest.last else { return [] }
        return try events(since: first - 1, host: host, limit: limit)
    }
}

extension HostVerdict {
    /// The code and detail a verdict on evidence gives (nil for `trusted`), as stored (``storable``).
    package var reason: (code: String?, detail: String?) {
        switch storable {
        case .rebooted(_, _, let code, let detail), .untrusted(_, _, let code, let detail): (code, detail)
        case .unreachable(let detail): (RegionError.Code.hostUnreachable.rawValue, detail)
        default: (nil, nil)
        }
    }
}
