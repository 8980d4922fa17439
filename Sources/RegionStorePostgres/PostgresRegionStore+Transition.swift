import Attestation
import Foundation
import PostgresNIO
import RegionTCB

/// A host transition in PostgreSQL in four round trips: BEGIN; the host's row read `FOR UPDATE` (with a fence, in
/// the same statement as the lease row `FOR SHARE`); one statement that writes all the transition changes — the
/// row, its audit events under the region's lock, the evidence kept and pruned, the change announced — and returns
/// the row as written; COMMIT. (It was ten to thirteen: the fence, the row's re-read, each event's lock and NOTIFY,
/// the evidence and its two prunings each a statement of their own.)
extension PostgresRegionStore {
    /// ``transition(_:host:judgedUnder:judged:now:)`` inside a transaction that may also write other columns
    /// (enrolment, revocation, re-admission). With `fence`, the first statement checks it (``lockedRow(_:host:fencedBy:)``);
    /// without, the transaction has checked it already, or the store writes unfenced.
    func transition(_ c: PostgresConnection, _ verdict: HostVerdict, host: String, judgedUnder policyDigest: String? = nil,
                    judged: JudgedEvidence? = nil, fencedBy fence: LeaderLease? = nil, now: Date) async throws -> IVTStore.Applied? {
        guard let old = try await lockedRow(c, host: host, fencedBy: fence) else { return nil }
        let t = HostTransition.apply(verdict, to: old, judgedUnder: policyDigest, bootLogSent: judged.map { $0.bundle.bootLog != nil },
                                     now: now)
        let row = t.row
        let events = [t.event, t.note].compactMap { $0 }.map {
            AuditEntry(kind: $0.kind, old: $0.old.rawValue, new: $0.new.rawValue, code: $0.code, detail: $0.detail)
        }
        let kept = judged.map { EvidenceKept(bundle: $0.stored, verdict: verdict, row: row, stateChanged: row.state != old.state) }
        // Every part is written exactly once whether or not the final SELECT reads it (PostgreSQL runs each
        // data-modifying WITH to completion); the row comes from the UPDATE itself, not from a read after it.
        let written = try await c.query("""
            WITH written AS (
                UPDATE host SET state = \(row.state.rawValue), failure_code = \(row.failureCode), failure_detail = \(row.failureDetail),
                    measured_by = \(row.measuredBy), last_quote_at = \(row.lastQuoteAt?.timeIntervalSince1970),
                    tpm_clock = \(row.tpmClock.map { Int64(bitPattern: $0) }), reset_count = \(row.resetCount.map { Int64($0) }),
                    restart_count = \(row.restartCount.map { Int64($0) }), last_pcr_digest = \(row.lastPCRDigest),
                    boot_log_pending = \(row.bootLogPending), verdict_state = \(row.verdictState?.rawValue), policy_digest = \(row.policyDigest),
                    version = \(row.version), updated_at = \(row.updatedAt.timeIntervalSince1970), reboot_accepted = \(row.rebootAcceptance)
                WHERE region = \(region) AND id = \(host)
                RETURNING \(unescaped: Self.rowColumns)),
            \(auditing: events, of: host, at: now, region: region)\(keeping: kept, of: host, at: now, region: region)
            SELECT written.*, (SELECT max(seq) FROM audited), \(announcing: .rows, of: region) FROM written
            """, logger: logger)
        guard let w = try await Self.first(written) else {
            throw RegionError(.storeFailed, "table host, region \(region), row \(host): gone within its own transaction")
        }
        return IVTStore.Applied(old: old.state, row: try Self.decodeRow(w),
                                eventSeq: try w.makeRandomAccess()[Self.rowColumnCount].decode(Int64?.self))
    }

    /// The host's row, locked `FOR UPDATE` until the transaction ends; nil when the host is not in the IVT.
    ///
    /// With `fence`, the row is read joined with the region's lease row, which must be this lease, unexpired, and is
    /// locked `FOR SHARE` in the same statement: the check of ``LeaderLease/check(on:logger:)`` without a round trip
    /// of its own, with the same guarantee (the lease row is share-locked before anything is written and until the
    /// commit, so a takeover waits; a locking read under READ COMMITTED re-reads both rows' newest committed
    /// versions, so a takeover committed before it is seen and the join finds no row). Only when the join finds no
    /// row is the lease checked on its own, to tell a fenced write (`store.fenced`) from a host not in the IVT.
    func lockedRow(_ c: PostgresConnection, host: String, fencedBy fence: LeaderLease?) async throws -> IVTRow? {
        guard let fence else {
            let locked = try await c.query("""
                SELECT \(unescaped: Self.rowColumns) FROM host WHERE region = \(region) AND id = \(host) FOR UPDATE
                """, logger: logger)
            return try await Self.first(locked).map(Self.decodeRow)
        }
        let locked = try await c.query("""
            SELECT \(unescaped: Self.rowColumns) FROM host h, leader_lease l
            WHERE h.region = \(region) AND h.id = \(host)
                AND l.region = \(region) AND l.holder = \(fence.holder) AND l.epoch = \(fence.epoch) AND l.expires_at > now()
            FOR UPDATE OF h FOR SHARE OF l
            """, logger: logger)
        if let r = try await Self.first(locked) { return try Self.decodeRow(r) }
        try await fence.check(on: c, logger: logger)
        return nil
    }
}
