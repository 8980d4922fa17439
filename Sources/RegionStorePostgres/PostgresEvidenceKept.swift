import Foundation
import PostgresNIO
import RegionTCB

/// The evidence a verdict was reached on, kept with it (``EvidenceRetention``), as part of the transition's one
/// write statement (``PostgresRegionStore/transition(_:_:host:judgedUnder:judged:fencedBy:now:)``).
struct EvidenceKept: Sendable {
    var bundle: Data
    var verdict: HostVerdict
    /// The host row as the transition writes it.
    var row: IVTRow
    /// Whether the transition changed the host's state.
    var stateChanged: Bool
    var at: Date
}

/// The new row and the pruning in one statement, with the retention of the SQLite store (``IVTStore``), which
/// inserts and then deletes twice: first all but the newest ``EvidenceRetention/recent`` and the newest
/// ``EvidenceRetention/perHost`` that changed the state, then all but the newest `perHost` of what is left.
///
/// In one statement the DELETE does not see the row the INSERT adds (every part of a `WITH` reads the snapshot
/// the statement began with), so the keep-sets are computed over the rows that were there before, `E`, knowing
/// that the new row `N` is the newest (an evidence row of a host is written only by its transitions, which wait
/// for each other on the host's row lock, and `seq` grows). After the insert, SQLite's first DELETE keeps `N`, the
/// newest `recent − 1` rows of `E` (A) and the newest `perHost − c` of `E` that changed the state (B; `c` is 1 when
/// `N` changed the state, else 0); its second keeps `N` and the newest `perHost − 1` of `A ∪ B`. The one DELETE here
/// removes every row of `E` not among the newest `perHost − 1` of `A ∪ B′`, with `B′` the newest `perHost − 1` of
/// `E` that changed the state: the same rows whatever `c`, since `B` has at most one row more than `B′`, its
/// oldest, and the `perHost − 1` rows of `B′` are all newer than it.
extension PostgresQuery.StringInterpolation {
    /// `, keptN AS (INSERT …), prunedN AS (DELETE …)` for `kept` (nothing for nil), after the audit's CTEs: the row's
    /// `event_seq` is `eventSeq` (SQL: the number of the verdict's last audit event, or NULL).
    mutating func appendInterpolation(keeping kept: EvidenceKept?, as index: Int, eventSeq: String, region: String) throws {
        guard let kept else { return }
        let (reason, host, at) = (kept.verdict.reason, kept.row.host, kept.at)
        appendLiteral(", kept\(index) AS (INSERT INTO evidence (region, host, at, verdict, state_changed, event_seq, code, detail, measured_by, policy_digest, bundle) SELECT ")
        appendInterpolation(region)
        appendLiteral(", ")
        appendInterpolation(host)
        appendLiteral(", ")
        appendInterpolation(at.timeIntervalSince1970)
        appendLiteral("::double precision, ")
        appendInterpolation(kept.verdict.state.rawValue)
        appendLiteral(", ")
        appendInterpolation(kept.stateChanged)
        appendLiteral("::boolean, \(eventSeq)")
        for value in [reason.code, reason.detail, kept.row.measuredBy, kept.row.policyDigest] {
            appendLiteral(", ")
            appendInterpolation(value)
            appendLiteral("::text")
        }
        appendLiteral(", ")
        try appendInterpolation(kept.bundle)
        appendLiteral("::bytea), pruned\(index) AS (DELETE FROM evidence WHERE region = ")
        appendInterpolation(region)
        appendLiteral(" AND host = ")
        appendInterpolation(host)
        appendLiteral(" AND seq NOT IN (SELECT seq FROM ((SELECT seq FROM evidence WHERE region = ")
        appendInterpolation(region)
        appendLiteral(" AND host = ")
        appendInterpolation(host)
        appendLiteral(" ORDER BY seq DESC LIMIT ")
        appendInterpolation(Int64(EvidenceRetention.recent - 1))
        appendLiteral(") UNION (SELECT seq FROM evidence WHERE region = ")
        appendInterpolation(region)
        appendLiteral(" AND host = ")
        appendInterpolation(host)
        appendLiteral(" AND state_changed ORDER BY seq DESC LIMIT ")
        appendInterpolation(Int64(EvidenceRetention.perHost - 1))
        appendLiteral(")) older ORDER BY seq DESC LIMIT ")
        appendInterpolation(Int64(EvidenceRetention.perHost - 1))
        appendLiteral("))")
    }
}
