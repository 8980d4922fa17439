import Foundation
import PostgresNIO
import RegionTCB

/// One audit event to append (its region is the statement's).
struct AuditEntry: Sendable {
    var host: String?
    var at: Date
    var kind: String
    var old: String?
    var new: String?
    var code: String?
    var detail: String?
    var evacuation: EvacuationFields?
}

/// Audit events appended inside a statement that is already sent, under the region's advisory transaction lock.
///
/// The lock is what keeps a region's event numbers committing in order (``PostgresRegionStore``): it must be held
/// before an event takes its number from the sequence, and until the transaction commits. In one statement the
/// order is made by data, not by the order of its parts (PostgreSQL runs the parts of a `WITH` in no promised
/// order): `locked` calls `pg_advisory_xact_lock`, and the first event's row is selected `FROM locked`, so the
/// row that takes a number from the sequence (the `seq` column's default, computed per row inserted) does not exist
/// before the lock is held; each further event is selected `FROM` the one before it, so they number in the order
/// given. A transaction lock is held until the transaction ends, as a separate `SELECT pg_advisory_xact_lock` was.
extension PostgresQuery.StringInterpolation {
    /// The common table expressions that append `entries` to `region`'s audit trail, to follow `WITH` or a comma:
    /// `locked`, `audited1`…`auditedN` (one row each, the event's number), and `audited`, all their numbers. No
    /// entries: `audited` has no rows and no lock is taken.
    mutating func appendInterpolation(auditing entries: [AuditEntry], region: String) {
        guard !entries.isEmpty else {
            appendLiteral("audited AS (SELECT NULL::bigint AS seq WHERE false)")
            return
        }
        appendLiteral("locked AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtext(")
        appendInterpolation(region)
        appendLiteral(")))")
        for (i, e) in entries.enumerated() {
            appendLiteral(", audited\(i + 1) AS (INSERT INTO event (region, at, host, kind, old_state, new_state, code, detail, vm, source, target, outcome) SELECT ")
            appendInterpolation(region)
            appendLiteral(", ")
            appendInterpolation(e.at.timeIntervalSince1970)
            appendLiteral("::double precision")
            for value in [e.host, e.kind, e.old, e.new, e.code, e.detail, e.evacuation?.vm, e.evacuation?.source, e.evacuation?.target,
                          e.evacuation?.outcome] {
                appendLiteral(", ")
                appendInterpolation(value)
                appendLiteral("::text")
            }
            appendLiteral(i == 0 ? " FROM locked RETURNING seq)" : " FROM audited\(i) RETURNING seq)")
        }
        appendLiteral(", audited AS (")
        appendLiteral((1...entries.count).map { "SELECT seq FROM audited\($0)" }.joined(separator: " UNION ALL "))
        appendLiteral(")")
    }
}
