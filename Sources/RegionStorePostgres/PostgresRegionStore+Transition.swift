import Attestation
import Foundation
import PostgresNIO
import RegionTCB

/// One verdict to apply to a host's row (``PostgresRegionStore/transition(_:host:judgedUnder:judged:now:)``).
struct TransitionRequest: Sendable {
    var verdict: HostVerdict
    var host: String
    var policyDigest: String?
    var judged: JudgedEvidence?
    var now: Date
}

/// Host transitions in PostgreSQL in four round trips, for one verdict or a group of them (``PostgresBatch``):
/// BEGIN; the hosts' rows read `FOR UPDATE` (with a fence, in the same statement as the lease row `FOR SHARE`); one
/// statement that writes all the transitions change — the rows, their audit events under the region's lock, the
/// evidence kept and pruned, the change announced — and returns the rows as written; COMMIT. (One verdict took ten
/// to thirteen: the fence, the row's re-read, each event's lock and NOTIFY, the evidence and its two prunings each a
/// statement of their own.)
extension PostgresRegionStore {
    /// ``transition(_:host:judgedUnder:judged:now:)`` inside a transaction that may also write other columns
    /// (enrolment, revocation, re-admission). With `fence`, the first statement checks it (``lockedRows(_:hosts:fencedBy:)``);
    /// without, the transaction has checked it already, or the store writes unfenced.
    func transition(_ c: PostgresConnection, _ verdict: HostVerdict, host: String, judgedUnder policyDigest: String? = nil,
                    judged: JudgedEvidence? = nil, fencedBy fence: LeaderLease? = nil, now: Date) async throws -> IVTStore.Applied? {
        let request = TransitionRequest(verdict: verdict, host: host, policyDigest: policyDigest, judged: judged, now: now)
        return try await transitions(c, [request], fencedBy: fence)[0].get()
    }

    /// `requests` (of distinct hosts) applied in the transaction on `c`: each answer nil for a host not in the IVT, or
    /// the error of a row that does not decode (that verdict alone is left out), or what was written.
    func transitions(_ c: PostgresConnection, _ requests: [TransitionRequest],
                     fencedBy fence: LeaderLease?) async throws -> [Result<IVTStore.Applied?, RegionError>] {
        let locked = try await lockedRows(c, hosts: requests.map(\.host), fencedBy: fence)
        var answers = [Result<IVTStore.Applied?, RegionError>](repeating: .success(nil), count: requests.count)
        var items: [(index: Int, request: TransitionRequest, old: IVTRow)] = []
        for (i, r) in requests.enumerated() {
            switch locked[r.host] {
            case nil: break
            case .failure(let e): answers[i] = .failure(e)
            case .success(let old): items.append((i, r, old))
            }
        }
        guard !items.isEmpty else { return answers }
        let written = try await write(items.map { ($0.request, $0.old) }, c)
        for (item, applied) in zip(items, written) { answers[item.index] = .success(applied) }
        return answers
    }

    /// ``HostTransition`` applied to each locked row, and everything the transitions write in one statement; the
    /// rows as written, in the order of `items`. Every part is written exactly once whether or not the final SELECT
    /// reads it (PostgreSQL runs each data-modifying WITH to completion); each row comes from its UPDATE itself, not
    /// from a read after it.
    func write(_ items: [(request: TransitionRequest, old: IVTRow)], _ c: PostgresConnection) async throws -> [IVTStore.Applied] {
        var events: [AuditEntry] = []
        var parts: [(row: IVTRow, lastEvent: Int?, kept: EvidenceKept?)] = []
        for (r, old) in items {
            let t = HostTransition.apply(r.verdict, to: old, judgedUnder: r.policyDigest, bootLogSent: r.judged.map(\.bootLogSent),
                                         now: r.now)
            let mine = [t.event, t.note].compactMap { $0 }
            events += mine.map { AuditEntry(host: r.host, at: r.now, kind: $0.kind, old: $0.old.rawValue, new: $0.new.rawValue, code: $0.code,
                                            detail: $0.detail) }
            parts.append((t.row, mine.isEmpty ? nil : events.count,
                          r.judged.map { EvidenceKept(bundle: $0.stored, verdict: r.verdict, row: t.row, stateChanged: t.row.state != old.state, at: r.now) }))
        }
        if events.isEmpty { return try await writeQuiet(parts.map { ($0.row, $0.kept) }, old: items.map(\.old), c) }
        var q = PostgresQuery.StringInterpolation(literalCapacity: 3000 * parts.count, interpolationCount: 48 * parts.count)
        q.appendLiteral("WITH ")
        for (i, p) in parts.enumerated() {
            q.appendLiteral(i == 0 ? "written0 AS (" : ", written\(i) AS (")
            q.appendInterpolation(updating: p.row, region: region)
            q.appendLiteral(")")
        }
        q.appendLiteral(", ")
        q.appendInterpolation(auditing: events, region: region)
        for (i, p) in parts.enumerated() {
            try q.appendInterpolation(keeping: p.kept, as: i, eventSeq: Self.seq(of: p.lastEvent), region: region)
        }
        for (i, p) in parts.enumerated() {
            q.appendLiteral(i == 0 ? " SELECT " : " UNION ALL SELECT ")
            q.appendLiteral("written\(i).*, \(Self.seq(of: p.lastEvent)), \(i), ")
            q.appendInterpolation(announcing: .rows, of: region)
            q.appendLiteral(" FROM written\(i)")
        }
        var written = [IVTStore.Applied?](repeating: nil, count: parts.count)
        for try await w in try await c.query(PostgresQuery(stringInterpolation: q), logger: logger) {
            let r = w.makeRandomAccess()
            let i = try r[Self.rowColumnCount + 1].decode(Int.self)
            written[i] = IVTStore.Applied(old: items[i].old.state, row: try Self.decodeRow(w), eventSeq: try r[Self.rowColumnCount].decode(Int64?.self))
        }
        return try written.enumerated().map { i, applied in
            guard let applied else {
                throw RegionError(.storeFailed, "table host, region \(region), row \(items[i].request.host): gone within its own transaction")
            }
            return applied
        }
    }

    /// The SQL for the number of the audit event `auditedN` (``PostgresQuery/StringInterpolation/appendInterpolation(auditing:region:)``), or NULL.
    static func seq(of event: Int?) -> String {
        event.map { "(SELECT seq FROM audited\($0))" } ?? "NULL::bigint"
    }

    /// The hosts' rows, locked `FOR UPDATE` (in the order of their ids) until the transaction ends, by host; a host
    /// not in the IVT is missing, a row that does not decode is its error.
    ///
    /// With `fence`, the rows are read joined with the region's lease row, which must be this lease, unexpired, and
    /// is locked `FOR SHARE` in the same statement: the check of ``LeaderLease/check(on:logger:)`` without a round trip
    /// of its own, with the same guarantee (the lease row is share-locked before anything is written and until the
    /// commit, so a takeover waits; a locking read under READ COMMITTED re-reads the rows' newest committed versions,
    /// so a takeover committed before it is seen and the join finds no row). Only when the join finds no row is the
    /// lease checked on its own, to tell a fenced write (`store.fenced`) from hosts not in the IVT.
    func lockedRows(_ c: PostgresConnection, hosts: [String], fencedBy fence: LeaderLease?) async throws -> [String: Result<IVTRow, RegionError>] {
        let rows = if let fence {
            try await c.execute(LockedRowsFenced(region: region, hosts: hosts, fence: fence), logger: logger)
        } else {
            try await c.execute(LockedRows(region: region, hosts: hosts), logger: logger)
        }
        var found: [String: Result<IVTRow, RegionError>] = [:]
        for try await r in rows {
            let id = try r.makeRandomAccess()[0].decode(String.self)
            do { found[id] = .success(try Self.decodeRow(r)) } catch { found[id] = .failure(coded(error)) }
        }
        if found.isEmpty, let fence { try await fence.check(on: c, logger: logger) }
        return found
    }
}

/// The hosts' rows of a region (`$1`; `$2` their ids), locked `FOR UPDATE` in the order of their ids: a transition's
/// first statement in a store without a fence (``PostgresRegionStore/lockedRows(_:hosts:fencedBy:)``).
struct LockedRows: PostgresRowStatement {
    static let name = "smig_LockedRows"
    static let sql = "SELECT \(PostgresRegionStore.rowColumns) FROM host WHERE region = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"
    static let bindingDataTypes: [PostgresDataType] = [.text, .textArray]

    var region: String
    var hosts: [String]

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(region, hosts)
    }
}

/// ``LockedRows`` joined with the region's lease row, which must be the fence's (`$3` holder, `$4` epoch) and
/// unexpired, and is locked `FOR SHARE` in the same statement: a fenced store's transition's first statement.
struct LockedRowsFenced: PostgresRowStatement {
    static let name = "smig_LockedRowsFenced"
    static let sql = """
        SELECT \(PostgresRegionStore.rowColumns) FROM host h, leader_lease l
        WHERE h.region = $1 AND h.id = ANY($2) AND l.region = $1 AND l.holder = $3 AND l.epoch = $4 AND l.expires_at > now()
        ORDER BY h.id FOR UPDATE OF h FOR SHARE OF l
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .textArray, .text, .int8]

    var region: String
    var hosts: [String]
    var fence: LeaderLease

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(region, hosts, fence.holder, fence.epoch)
    }
}

extension PostgresQuery.StringInterpolation {
    /// `UPDATE host SET … RETURNING` the columns ``PostgresRegionStore/decodeRow(_:)`` reads: `row` as a transition
    /// writes it.
    mutating func appendInterpolation(updating row: IVTRow, region: String) {
        appendLiteral("UPDATE host SET state = ")
        appendInterpolation(row.state.rawValue)
        appendLiteral(", failure_code = ")
        appendInterpolation(row.failureCode)
        appendLiteral(", failure_detail = ")
        appendInterpolation(row.failureDetail)
        appendLiteral(", measured_by = ")
        appendInterpolation(row.measuredBy)
        appendLiteral(", last_quote_at = ")
        appendInterpolation(row.lastQuoteAt?.timeIntervalSince1970)
        appendLiteral(", tpm_clock = ")
        appendInterpolation(row.tpmClock.map { Int64(bitPattern: $0) })
        appendLiteral(", reset_count = ")
        appendInterpolation(row.resetCount.map { Int64($0) })
        appendLiteral(", restart_count = ")
        appendInterpolation(row.restartCount.map { Int64($0) })
        appendLiteral(", last_pcr_digest = ")
        appendInterpolation(row.lastPCRDigest)
        appendLiteral(", boot_log_pending = ")
        appendInterpolation(row.bootLogPending)
        appendLiteral(", verdict_state = ")
        appendInterpolation(row.verdictState?.rawValue)
        appendLiteral(", policy_digest = ")
        appendInterpolation(row.policyDigest)
        appendLiteral(", version = ")
        appendInterpolation(row.version)
        appendLiteral(", updated_at = ")
        appendInterpolation(row.updatedAt.timeIntervalSince1970)
        appendLiteral(", reboot_accepted = ")
        appendInterpolation(row.rebootAcceptance)
        appendLiteral(" WHERE region = ")
        appendInterpolation(region)
        appendLiteral(" AND id = ")
        appendInterpolation(row.host)
        appendLiteral(" RETURNING \(PostgresRegionStore.rowColumns)")
    }
}
