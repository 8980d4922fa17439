import Foundation
import GRDB

/// Where the IVT keeps the evidence of verdicts that changed nothing (the steady state: most verdicts): each host
/// owns ``EvidenceRetention/recent`` rows of `evidence_recent`, a ring, and a verdict rewrites the oldest in place.
/// Adding a row and deleting the host's oldest instead (as the `evidence` table does for state changes) moved pages
/// in the table and both its indexes at every verdict; a rewrite in place changes one page.
///
/// - A host's ring is the rows whose `slot` (the row id) is `evidence_ring × stride` to that plus `recent − 1`;
///   `host.evidence_ring` is given the first time the host keeps such evidence and never changes.
/// - `host.evidence_next` counts the host's verdicts kept in its ring; the next one goes to slot `count mod recent`,
///   the oldest. The verdict's transition reads and writes it with the rest of the row (``RecentEvidencePlace``).
/// - Every kept bundle, in either table, takes its `seq` from `evidence_counter`: one sequence, so a host's evidence
///   is ordered by `seq` across both (``EvidenceNumbering``).
extension IVTStore {
    /// Slots reserved per host's ring, at least ``EvidenceRetention/recent``, so that keeping more later does not
    /// move any host's ring.
    static let recentEvidenceStride = 16

    static func registerRecentEvidence(_ m: inout DatabaseMigrator) {
        m.registerMigration("v10: recent evidence kept in place") { db in
            try db.execute(sql: """
                ALTER TABLE host ADD COLUMN evidence_ring INTEGER;
                ALTER TABLE host ADD COLUMN evidence_next INTEGER NOT NULL DEFAULT 0;
                CREATE UNIQUE INDEX host_evidence_ring ON host (evidence_ring) WHERE evidence_ring IS NOT NULL;
                CREATE TABLE evidence_recent (
                    slot INTEGER PRIMARY KEY,
                    host TEXT NOT NULL, seq INTEGER NOT NULL, at REAL NOT NULL, verdict TEXT NOT NULL, event_seq INTEGER,
                    code TEXT, detail TEXT, measured_by TEXT, policy_digest TEXT,
                    bundle BLOB NOT NULL
                );
                CREATE TABLE evidence_counter (one INTEGER PRIMARY KEY CHECK (one = 1), last_seq INTEGER NOT NULL);
                INSERT INTO evidence_counter VALUES (1, max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'evidence'), 0),
                                                            coalesce((SELECT max(seq) FROM evidence), 0)));
                -- What the evidence table kept of verdicts that changed nothing (the host's newest `recent`) moves
                -- to its host's ring, oldest in slot 0.
                UPDATE host SET evidence_ring = r.n
                  FROM (SELECT host, row_number() OVER (ORDER BY host) AS n FROM (SELECT DISTINCT host FROM evidence WHERE state_changed = 0)) AS r
                 WHERE host.id = r.host;
                INSERT INTO evidence_recent (slot, host, seq, at, verdict, event_seq, code, detail, measured_by, policy_digest, bundle)
                SELECT h.evidence_ring * \(recentEvidenceStride) + (min(e.kept_count, \(EvidenceRetention.recent)) - 1 - e.newest),
                       e.host, e.seq, e.at, e.verdict, e.event_seq, e.code, e.detail, e.measured_by, e.policy_digest, e.bundle
                  FROM (SELECT *, row_number() OVER (PARTITION BY host ORDER BY seq DESC) - 1 AS newest,
                               count(*) OVER (PARTITION BY host) AS kept_count
                          FROM evidence WHERE state_changed = 0) AS e
                  JOIN host h ON h.id = e.host
                 WHERE e.newest < \(EvidenceRetention.recent);
                UPDATE host SET evidence_next = (SELECT count(*) FROM evidence_recent WHERE host = host.id) WHERE evidence_ring IS NOT NULL;
                DELETE FROM evidence WHERE state_changed = 0;
                DROP INDEX evidence_host_changed;
                """)
        }
    }

    /// Keeps the evidence of a verdict that changed nothing in the oldest slot of its host's ring. `place`: the ring
    /// and the count of verdicts kept in it, this one included, as the verdict's transition wrote them to the row.
    static func keepRecent(_ db: Database, seq: Int64, bundle: Data, verdict: HostVerdict, applied: Applied, place: RecentEvidencePlace,
                           now: Date) throws {
        let host = applied.row.host
        guard place.count > 0 else { throw RegionError(.storeFailed, "host \(host): evidence kept in a ring it was not counted in") }
        var ring = place.ring
        if ring == nil {
            ring = try Int64.fetchOne(db, sql: """
                UPDATE host SET evidence_ring = (SELECT coalesce(max(evidence_ring), 0) + 1 FROM host WHERE evidence_ring IS NOT NULL)
                 WHERE id = ? RETURNING evidence_ring
                """, arguments: [host])
        }
        guard let ring else { throw RegionError(.storeCorrupt, "table host, row \(host): no evidence ring") }
        let slot = ring * Int64(recentEvidenceStride) + (place.count - 1) % Int64(EvidenceRetention.recent)
        let reason = verdict.reason
        try db.cachedStatement(sql: """
            INSERT INTO evidence_recent (slot, host, seq, at, verdict, event_seq, code, detail, measured_by, policy_digest, bundle)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (slot) DO UPDATE SET host = excluded.host, seq = excluded.seq, at = excluded.at, verdict = excluded.verdict,
                event_seq = excluded.event_seq, code = excluded.code, detail = excluded.detail, measured_by = excluded.measured_by,
                policy_digest = excluded.policy_digest, bundle = excluded.bundle
            """).execute(arguments: [slot, host, seq, now.timeIntervalSince1970, verdict.state.rawValue, applied.eventSeq,
                                     reason.code, reason.detail, applied.row.measuredBy, applied.row.policyDigest, bundle])
    }
}

/// Where a host keeps the evidence of its verdicts that change nothing: its ring (nil until its first) and how many it
/// kept there (`host.evidence_ring`, `host.evidence_next`).
struct RecentEvidencePlace {
    var ring: Int64?
    var count: Int64

    init(ring: Int64?, count: Int64) {
        (self.ring, self.count) = (ring, count)
    }

    /// From the two columns ``IVTStore/selectRowsAndEvidencePlace`` reads after the row's.
    init(_ r: Row, host: String) throws {
        let at = IVTStore.rowColumnCount
        ring = try r.decode(atIndex: at)
        count = try r.decode(atIndex: at + 1)
        guard count >= 0, (ring ?? 1) > 0 else {
            throw RegionError(.storeCorrupt, "table host, row \(host): evidence ring \(ring.map(String.init) ?? "-") with \(count) kept")
        }
    }
}

/// The one sequence of kept evidence within one transaction: read from `evidence_counter` when the first number is
/// taken and written back once before the transaction commits (``save(_:)``), not a statement per bundle. A number
/// taken by a verdict that is rolled back alone (its savepoint) is skipped.
final class EvidenceNumbering {
    private var last: Int64?
    private var taken = false

    func next(_ db: Database) throws -> Int64 {
        if last == nil {
            guard let stored = try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_seq FROM evidence_counter")) else {
                throw RegionError(.storeCorrupt, "table evidence_counter has no row")
            }
            last = stored
        }
        let seq = (last ?? 0) + 1
        (last, taken) = (seq, true)
        return seq
    }

    func save(_ db: Database) throws {
        guard taken, let last else { return }
        try db.cachedStatement(sql: "UPDATE evidence_counter SET last_seq = ?").execute(arguments: [last])
    }
}
