import Foundation
import NIOCore
import PostgresNIO
import RegionProtocol
import RegionTCB
import Synchronization

/// A group of transitions none of which writes an audit event — verdicts that confirm what the rows hold, a region's
/// steady state — in one statement whose text is the same for every group: the rows' new columns and the evidence
/// kept travel as two JSON documents and one array of bundles. So it is prepared once per connection (``QuietGroup``),
/// and PostgreSQL parses and analyses it once; the statement with a part per transition
/// (``PostgresRegionStore/write(_:_:)``) grows with the group, and parsing and planning it took about half of the
/// server's CPU in `bench region` at 10,000 hosts.
///
/// It writes what that statement writes for such a group: each row as ``HostTransition`` left it (the same columns),
/// each bundle kept with its verdict and the host's evidence pruned by the same rule (``EvidenceKept``: every part of
/// one statement reads the snapshot it began with, so the prune does not see the rows added), each row announced.
/// The statement of ``PostgresRegionStore/writeQuiet(_:old:_:)``, prepared once per connection: `$1` the region, `$2`
/// the rows' new columns and `$3` the evidence kept (JSON arrays), `$4` the evidence's bundles in the same order,
/// `$5` and `$6` the retention's bounds, `$7` the announcement's payload.
struct QuietGroup: PostgresRowStatement {
    static let name = "smig_QuietGroup"
    static let sql = """
        WITH x AS (SELECT * FROM jsonb_populate_recordset(NULL::host, $2::jsonb)),
        written AS (UPDATE host h SET state = x.state, failure_code = x.failure_code, failure_detail = x.failure_detail,
                        measured_by = x.measured_by, last_quote_at = x.last_quote_at, tpm_clock = x.tpm_clock,
                        reset_count = x.reset_count, restart_count = x.restart_count, last_pcr_digest = x.last_pcr_digest,
                        boot_log_pending = x.boot_log_pending, verdict_state = x.verdict_state, policy_digest = x.policy_digest,
                        version = x.version, updated_at = x.updated_at, reboot_accepted = x.reboot_accepted
                    FROM x WHERE h.region = $1 AND h.id = x.id
                    RETURNING \(PostgresRegionStore.rowColumnsOfH)),
        e AS (SELECT r.host, r.at, r.verdict, r.state_changed, r.code, r.detail, r.measured_by, r.policy_digest, j.n
              FROM jsonb_array_elements($3::jsonb) WITH ORDINALITY AS j(doc, n),
                   LATERAL jsonb_populate_record(NULL::evidence, j.doc) AS r),
        kept AS (INSERT INTO evidence (region, host, at, verdict, state_changed, event_seq, code, detail, measured_by, policy_digest, bundle)
                 SELECT $1, e.host, e.at, e.verdict, e.state_changed, NULL, e.code, e.detail, e.measured_by, e.policy_digest, b.bundle
                 FROM e JOIN unnest($4::bytea[]) WITH ORDINALITY AS b(bundle, n) ON b.n = e.n),
        pruned AS (DELETE FROM evidence d USING e WHERE d.region = $1 AND d.host = e.host
                   AND d.seq NOT IN (SELECT seq FROM ((SELECT seq FROM evidence WHERE region = $1 AND host = e.host
                                                       ORDER BY seq DESC LIMIT $5)
                                                      UNION (SELECT seq FROM evidence WHERE region = $1 AND host = e.host
                                                             AND state_changed ORDER BY seq DESC LIMIT $6)) older
                                     ORDER BY seq DESC LIMIT $6))
        SELECT written.*, pg_notify('\(PostgresRegionStore.changeChannel)', $7) FROM written
        """
    static let bindingDataTypes: [PostgresDataType] = [.text, .text, .text, .byteaArray, .int8, .int8, .text]

    var region: String
    var rows: String
    var evidence: String
    var bundles: [ByteBuffer]

    func makeBindings() throws -> PostgresBindings {
        PostgresBindings(region, rows, evidence, bundles, Int64(EvidenceRetention.recent - 1), Int64(EvidenceRetention.perHost - 1),
                         PostgresRegionStore.payload(.rows, of: region))
    }
}

extension PostgresRegionStore {
    /// The rows as written, in the order of `parts` (whose transitions write no audit event).
    func writeQuiet(_ parts: [(row: IVTRow, kept: EvidenceKept?)], old: [IVTRow], _ c: PostgresConnection) async throws -> [IVTStore.Applied] {
        var rows = CanonicalJSONWriter(capacity: 400 * parts.count)
        rows.beginArray()
        for p in parts { Self.write(p.row, to: &rows) }
        rows.endArray()
        var evidence = CanonicalJSONWriter(capacity: 200 * parts.count)
        var bundles: [ByteBuffer] = []
        evidence.beginArray()
        for kept in parts.compactMap(\.kept) {
            Self.write(kept, to: &evidence)
            bundles.append(ByteBuffer(bytes: kept.bundle))
        }
        evidence.endArray()
        let written = try await c.execute(QuietGroup(region: region, rows: String(decoding: rows.bytes, as: UTF8.self),
                                                     evidence: String(decoding: evidence.bytes, as: UTF8.self), bundles: bundles),
                                          logger: logger)
        var byHost: [String: IVTRow] = [:]
        for try await w in written {
            let row = try Self.decodeRow(w)
            byHost[row.host] = row
        }
        quietGroups.withLock { $0 += 1 }
        return try zip(parts, old).map { p, old in
            guard let row = byHost[p.row.host] else {
                throw RegionError(.storeFailed, "table host, region \(region), row \(p.row.host): gone within its own transaction")
            }
            return IVTStore.Applied(old: old.state, row: row, eventSeq: nil)
        }
    }

    /// ``rowColumns``, each of the table `h`.
    static let rowColumnsOfH = rowColumns.split(separator: ",").map { "h." + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: ", ")

    /// The columns a transition writes, named as the host table's (a missing key is NULL).
    static func write(_ row: IVTRow, to json: inout CanonicalJSONWriter) {
        json.beginObject()
        json.key("id"); json.string(row.host)
        json.key("state"); json.string(row.state.rawValue)
        if let v = row.failureCode { json.key("failure_code"); json.string(v) }
        if let v = row.failureDetail { json.key("failure_detail"); json.string(v) }
        if let v = row.measuredBy { json.key("measured_by"); json.string(v) }
        if let v = row.lastQuoteAt { json.key("last_quote_at"); json.double(v.timeIntervalSince1970) }
        if let v = row.tpmClock { json.key("tpm_clock"); json.int(Int(Int64(bitPattern: v))) }
        if let v = row.resetCount { json.key("reset_count"); json.int(Int(v)) }
        if let v = row.restartCount { json.key("restart_count"); json.int(Int(v)) }
        if let v = row.lastPCRDigest { json.key("last_pcr_digest"); json.string(v) }
        json.key("boot_log_pending"); json.bool(row.bootLogPending)
        if let v = row.verdictState { json.key("verdict_state"); json.string(v.rawValue) }
        if let v = row.policyDigest { json.key("policy_digest"); json.string(v) }
        json.key("version"); json.int(row.version)
        json.key("updated_at"); json.double(row.updatedAt.timeIntervalSince1970)
        if let v = row.rebootAcceptance { json.key("reboot_accepted"); json.string(v) }
        json.endObject()
    }

    /// An evidence row's columns but its bundle, named as the evidence table's.
    static func write(_ kept: EvidenceKept, to json: inout CanonicalJSONWriter) {
        let reason = kept.verdict.reason
        json.beginObject()
        json.key("host"); json.string(kept.row.host)
        json.key("at"); json.double(kept.at.timeIntervalSince1970)
        json.key("verdict"); json.string(kept.verdict.state.rawValue)
        json.key("state_changed"); json.bool(kept.stateChanged)
        if let v = reason.code { json.key("code"); json.string(v) }
        if let v = reason.detail { json.key("detail"); json.string(v) }
        if let v = kept.row.measuredBy { json.key("measured_by"); json.string(v) }
        if let v = kept.row.policyDigest { json.key("policy_digest"); json.string(v) }
        json.endObject()
    }
}
