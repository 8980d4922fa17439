package import Attestation
package import Foundation
import GRDB
import Migration

/// One row of the integrity validation table.
package struct IVTRow: Sendable, Hashable, Codable {
    package var host: String
    package var address: String
    package var state: HostState
    package var akName: String?
    package var ekCertificate: String?
    package var enrolledAt: Date?
    package var revoked: Bool
    /// RC-TCB clock of the last verified quote.
    package var lastQuoteAt: Date?
    package var tpmClock: UInt64?
    package var resetCount: UInt32?
    package var restartCount: UInt32?
    package var lastPCRDigest: String?
    /// Who produced the last verdict: a ring neighbour's host id, or `rc-tcb` for a direct challenge.
    package var measuredBy: String?
    package var failureCode: String?
    package var failureDetail: String?
    package var policyName: String?
    /// The digest of the policy (region file and golden files, ``LoadedRegionPolicy``) the row's latest verdict on
    /// evidence was judged under; until its first verdict, the policy's the host was added under.
    package var policyDigest: String?
    package var vms: [String]
    package var capacity: Int?
    package var version: Int
    package var updatedAt: Date
    /// Set when the host turned `rebooted`, cleared when it is `trusted` again (which takes a boot log that
    /// replays): a reboot is not forgotten when the host is `unreachable` or `untrusted` in between.
    package var bootLogPending: Bool = false
    /// The state the latest verdict gave the host, whatever its row's state is (an evacuation keeps `evacuating`
    /// while the host's quotes keep being judged). Nil until the first verdict.
    package var verdictState: HostState? = nil
    /// The operator's reason for accepting the pending reboot (`rctcb accept-reboot`): the next verified quote is
    /// trusted without a boot log that replays. Cleared when the host is trusted again.
    package var rebootAcceptance: String? = nil

    package init(host: String, address: String, state: HostState, akName: String?, ekCertificate: String?, enrolledAt: Date?, revoked: Bool,
                 lastQuoteAt: Date?, tpmClock: UInt64?, resetCount: UInt32?, restartCount: UInt32?, lastPCRDigest: String?, measuredBy: String?,
                 failureCode: String?, failureDetail: String?, policyName: String?, policyDigest: String?, vms: [String], capacity: Int?,
                 version: Int, updatedAt: Date, bootLogPending: Bool = false, verdictState: HostState? = nil,
                 rebootAcceptance: String? = nil) {
        self.host = host
        self.address = address
        self.state = state
        self.akName = akName
        self.ekCertificate = ekCertificate
        self.enrolledAt = enrolledAt
        self.revoked = revoked
        self.lastQuoteAt = lastQuoteAt
        self.tpmClock = tpmClock
        self.resetCount = resetCount
        self.restartCount = restartCount
        self.lastPCRDigest = lastPCRDigest
        self.measuredBy = measuredBy
        self.failureCode = failureCode
        self.failureDetail = failureDetail
        self.policyName = policyName
        self.policyDigest = policyDigest
        self.vms = vms
        self.capacity = capacity
        self.version = version
        self.updatedAt = updatedAt
        self.bootLogPending = bootLogPending
        self.verdictState = verdictState
        self.rebootAcceptance = rebootAcceptance
    }
}

/// One audited change.
package struct IVTEvent: Sendable, Hashable, Codable {
    package var seq: Int64
    package var at: Date
    package var host: String?
    package var kind: String
    package var oldState: String?
    package var newState: String?
    package var code: String?
    package var detail: String?
    /// Identical events aggregated into this one (refusals of one host with one code within a window): how many,
    /// and when the last of them happened.
    package var count: Int = 1
    package var lastAt: Date? = nil
    /// An evacuation step's VM, source, target and outcome (nil for other events, and for events written before
    /// the IVT kept them).
    package var evacuation: EvacuationFields? = nil

    package init(seq: Int64, at: Date, host: String?, kind: String, oldState: String?, newState: String?, code: String?, detail: String?,
                 count: Int = 1, lastAt: Date? = nil, evacuation: EvacuationFields? = nil) {
        (self.seq, self.at, self.host, self.kind, self.oldState, self.newState) = (seq, at, host, kind, oldState, newState)
        (self.code, self.detail, self.count, self.lastAt, self.evacuation) = (code, detail, count, lastAt, evacuation)
    }
}

/// What the RC-TCB recorded when a host enrolled.
package struct Enrolment: Sendable, Hashable {
    package var host: String
    /// The AK's TPM2B_PUBLIC.
    package var akPublic: [UInt8]
    package var akName: String
    package var ekCertificate: String
    package var enrolledAt: Date
    package var revoked: Bool

    package init(host: String, akPublic: [UInt8], akName: String, ekCertificate: String, enrolledAt: Date, revoked: Bool) {
        (self.host, self.akPublic, self.akName, self.ekCertificate, self.enrolledAt, self.revoked) = (host, akPublic, akName, ekCertificate, enrolledAt, revoked)
    }
}

/// The IVT in SQLite (WAL): hosts, enrolments and the audit trail. Every change and its audit event are written
/// in one transaction, so a crash loses neither alone. Stored values are decoded with coded errors, never trapped on.
package final class IVTStore: Sendable {
    let pool: DatabasePool
    package let path: String
    /// Opened with `flushEveryCommit` (an operator's command): every commit is flushed already.
    let flushesEveryCommit: Bool
    /// The RC-TCB's verdicts, written in groups (``IVTGroupCommit``).
    package let groupCommit = IVTGroupCommit()

    /// `flushEveryCommit`: the writer flushes the WAL to the disk at every commit (`synchronous = FULL`), so a commit
    /// survives a power failure; otherwise (GRDB's `NORMAL`) the group commits of verdicts are flushed only at
    /// checkpoints (a commit survives a crash of the process, a power failure may take the newest verdicts), and
    /// every other write at its own commit (``write(durable:_:)``). An operator's command (a revocation, say) writes
    /// once and exits: it flushes every commit.
    package init(path: String, flushEveryCommit: Bool = false) throws(RegionError) {
        self.path = path
        flushesEveryCommit = flushEveryCommit
        do {
            var config = Configuration()
            config.busyMode = .timeout(10)
            config.prepareDatabase { db in
                // The WAL is copied into the database every `walCheckpointPages` pages instead of SQLite's 1,000: a
                // host's row and the evidence pages a verdict touches are rewritten many times between checkpoints,
                // and each checkpoint writes a page once however often it changed.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.walCheckpointPages)")
                // The writer keeps the pages it rewrites (host rows, evidence, their indexes) in memory instead of
                // reading them again; a reader's cache is emptied by every write anyway.
                if !db.configuration.readonly { try db.execute(sql: "PRAGMA cache_size = -\(Self.writerCacheKiB)") }
            }
            pool = try DatabasePool(path: path, configuration: config)
            // GRDB's pool sets `synchronous = NORMAL` on its writer (set after `prepareDatabase`, so set here).
            if flushEveryCommit { try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") } }
            try Self.migrator.migrate(pool)
        } catch {
            throw RegionError(.storeFailed, "cannot open the IVT database \(path): \(error)")
        }
    }

    /// Whether the writer flushes the WAL to the disk at every commit (`synchronous` is `FULL` or `EXTRA`).
    package func walFlushedAtEveryCommit() throws(RegionError) -> Bool {
        try write(durable: false) { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? 0 } >= 2
    }

    /// Pages of WAL between automatic checkpoints (16 MiB at SQLite's 4 KiB pages).
    static let walCheckpointPages = 4000
    /// The writer connection's page cache (SQLite's default is 2 MiB).
    static let writerCacheKiB = 32 << 10

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE host (
                    id TEXT PRIMARY KEY NOT NULL,
                    address TEXT NOT NULL DEFAULT '',
                    state TEXT NOT NULL DEFAULT 'unknown',
                    ak_public BLOB, ak_name TEXT, ek_certificate TEXT, enrolled_at REAL,
                    revoked INTEGER NOT NULL DEFAULT 0,
                    last_quote_at REAL, tpm_clock INTEGER, reset_count INTEGER, restart_count INTEGER,
                    last_pcr_digest TEXT, measured_by TEXT, failure_code TEXT, failure_detail TEXT,
                    policy_name TEXT, policy_digest TEXT, vms TEXT NOT NULL DEFAULT '', capacity INTEGER,
                    version INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL
                );
                CREATE TABLE event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL, host TEXT, kind TEXT NOT NULL,
                    old_state TEXT, new_state TEXT, code TEXT, detail TEXT
                );
                """)
        }
        m.registerMigration("v2: boot_log_pending") { db in
            try db.execute(sql: "ALTER TABLE host ADD COLUMN boot_log_pending INTEGER NOT NULL DEFAULT 0")
        }
        registerEKBinding(&m)
        m.registerMigration("v4: verdict state and aggregated events") { db in
            try db.execute(sql: """
                ALTER TABLE host ADD COLUMN verdict_state TEXT;
                ALTER TABLE event ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE event ADD COLUMN last_at REAL;
                CREATE INDEX event_host_kind ON event (host, kind, seq);
                """)
        }
        registerEvidence(&m)
        m.registerMigration("v6: reboot acceptance") { db in
            try db.execute(sql: "ALTER TABLE host ADD COLUMN reboot_accepted TEXT")
        }
        registerCertificates(&m)
        registerEvacuationFields(&m)
        registerEvacuations(&m)
        registerRecentEvidence(&m)
        return m
    }

    // MARK: Hosts

    /// Adds the region's hosts that are not in the table yet (state `unknown`) and updates addresses.
    package func seed(hosts: [(id: String, address: String, capacity: Int?)], policyName: String, policyDigest: String, now: Date = Date()) throws(RegionError) {
        try write { db in
            for h in hosts {
                if try Row.fetchOne(db, sql: "SELECT id FROM host WHERE id = ?", arguments: [h.id]) == nil {
                    try db.execute(sql: "INSERT INTO host (id, address, capacity, policy_name, policy_digest, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                                   arguments: [h.id, h.address, h.capacity, policyName, policyDigest, now.timeIntervalSince1970])
                    try Self.audit(db, now, host: h.id, kind: "host-added", old: nil, new: HostState.unknown.rawValue, code: nil, detail: h.address)
                } else {
                    // policy_digest stays the one the row's latest verdict was judged under.
                    try db.execute(sql: "UPDATE host SET address = ?, capacity = ?, policy_name = ? WHERE id = ?",
                                   arguments: [h.address, h.capacity, policyName, h.id])
                }
            }
        }
    }

    package func rows() throws(RegionError) -> [IVTRow] {
        try read { db in try Row.fetchAll(db.cachedStatement(sql: Self.selectRows + " ORDER BY id")).map(Self.decodeRow) }
    }

    package func row(_ host: String) throws(RegionError) -> IVTRow? {
        try read { db in try Self.row(db, host) }
    }

    /// A host's row, decoded from the statement's current row as it steps (not copied into a `Row` first: the row
    /// holds the EK certificate and the AK, which a decode by position reads only once).
    static func row(_ db: Database, _ host: String) throws -> IVTRow? {
        try hostRow(db, Self.selectRows, host, Self.decodeRow)
    }

    /// `select`'s row for `host`, decoded by `decode` as its statement steps.
    static func hostRow<T>(_ db: Database, _ select: String, _ host: String, _ decode: (Row) throws -> T) throws -> T? {
        let cursor = try Row.fetchCursor(db.cachedStatement(sql: select + " WHERE id = ?"), arguments: [host])
        // The cursor resets its statement when it is released, which would empty the row being decoded.
        return try withExtendedLifetime(cursor) { try cursor.next().map(decode) }
    }

    /// Applies a verdict to a host's row by ``HostTransition`` in one transaction: the old row is read, the new row
    /// and its audit event are written, and what was written is returned. Nil for a host that is not in the table.
    /// `judgedUnder`: the digest of the policy the verdict's evidence was judged against, recorded in the row.
    /// `evidence`: the bundle the verdict was reached on, kept with it (``EvidenceRetention``).
    package func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String? = nil, evidence: EvidenceBundle? = nil,
                            now: Date = Date()) throws(RegionError) -> Applied? {
        try transition(verdict, host: host, judgedUnder: policyDigest, judged: evidence.map { JudgedEvidence($0) }, now: now)
    }

    /// ``transition(_:host:judgedUnder:evidence:now:)`` with the bundle already encoded as the IVT keeps it (the RC-TCB
    /// encodes it where it judged it, off the actor every verdict passes through).
    package func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String?, judged: JudgedEvidence?,
                            now: Date) throws(RegionError) -> Applied? {
        try write { db in
            let numbering = EvidenceNumbering()
            let applied = try Self.transition(db, verdict, host: host, judgedUnder: policyDigest, keeping: judged, numbering: numbering, now: now)
            try numbering.save(db)
            return applied
        }
    }

    /// ``transition(_:host:judgedUnder:now:)`` inside a transaction that also writes other columns (enrolment, revocation).
    /// `keeping`: the evidence the verdict was reached on, kept with it (``keep(_:bundle:verdict:applied:place:numbering:now:)``),
    /// numbered by `numbering`, which the transaction saves before it commits.
    /// `rows`: the group commit's rows as it last wrote them (``WrittenRows``), read instead of the table when it has
    /// the host's; the row written is staged in it.
    static func transition(_ db: Database, _ verdict: HostVerdict, host: String, judgedUnder policyDigest: String? = nil,
                           keeping judged: JudgedEvidence? = nil, numbering: EvidenceNumbering? = nil, rows: WrittenRows? = nil,
                           now: Date) throws -> Applied? {
        let read: (IVTRow, RecentEvidencePlace)?
        if let written = rows?.row(host) { read = written } else {
            read = try hostRow(db, Self.selectRowsAndEvidencePlace, host, { r in (try Self.decodeRow(r), try RecentEvidencePlace(r, host: host)) })
        }
        guard let (old, place) = read else { return nil }
        let t = HostTransition.apply(verdict, to: old, judgedUnder: policyDigest, bootLogSent: judged.map(\.bootLogSent),
                                     now: now)
        // A verdict that changes nothing keeps its evidence in its host's ring (``keepRecent``), counted in the row.
        var kept = place
        if judged != nil, t.row.state == old.state { kept.count += 1 }
        try Self.write(t.row, db, recentEvidenceKept: kept.count)
        var seq: Int64?
        for e in [t.event, t.note].compactMap({ $0 }) {
            try Self.audit(db, now, host: host, kind: e.kind, old: e.old.rawValue, new: e.new.rawValue, code: e.code, detail: e.detail)
            seq = db.lastInsertedRowID
        }
        let applied = Applied(old: old.state, row: Self.stored(t.row, over: old), eventSeq: seq)
        if let judged {
            guard let numbering else { throw RegionError(.storeFailed, "evidence of host \(host) kept without numbering") }
            try Self.keep(db, bundle: judged.stored, verdict: verdict, applied: applied, place: kept, numbering: numbering, now: now)
        }
        // A ring given to the host by this verdict (``keepRecent``) is in the table only: the host is read from there next.
        let ringGiven = judged != nil && t.row.state == old.state && place.ring == nil
        rows?.stage(host, ringGiven ? nil : (applied.row, kept))
        return applied
    }

    /// What ``transition(_:host:now:)`` changed: the state before, the row after, and the number of the audit event
    /// it wrote (nil when the state did not change).
    package struct Applied: Sendable {
        package var old: HostState
        package var row: IVTRow
        package var eventSeq: Int64?

        package init(old: HostState, row: IVTRow, eventSeq: Int64?) {
            (self.old, self.row, self.eventSeq) = (old, row, eventSeq)
        }
    }

    /// The row as ``write(_:_:)`` leaves it in the table and ``decodeRow(_:)`` reads it back: the columns it writes
    /// from `row` as a read returns them (dates as seconds since 1970 in a REAL; text up to its first NUL, where the
    /// database's text reader stops), every other column as `old` had it. Callers hold this instead of reading the
    /// row again within the transaction.
    static func stored(_ row: IVTRow, over old: IVTRow) -> IVTRow {
        func asRead(_ date: Date) -> Date { Date(timeIntervalSince1970: date.timeIntervalSince1970) }
        func asRead(_ text: String?) -> String? {
            guard let text, text.utf8.contains(0) else { return text }
            return String(decoding: text.utf8.prefix { $0 != 0 }, as: UTF8.self)
        }
        var kept = old
        kept.state = row.state
        kept.failureCode = asRead(row.failureCode)
        kept.failureDetail = asRead(row.failureDetail)
        kept.measuredBy = asRead(row.measuredBy)
        kept.lastQuoteAt = row.lastQuoteAt.map(asRead)
        kept.tpmClock = row.tpmClock
        kept.resetCount = row.resetCount
        kept.restartCount = row.restartCount
        kept.lastPCRDigest = asRead(row.lastPCRDigest)
        kept.bootLogPending = row.bootLogPending
        kept.verdictState = row.verdictState
        kept.policyDigest = asRead(row.policyDigest)
        kept.version = row.version
        kept.updatedAt = asRead(row.updatedAt)
        kept.rebootAcceptance = asRead(row.rebootAcceptance)
        return kept
    }

    /// `recentEvidenceKept`: the row's count of verdicts kept in its evidence ring after this one (nil: unchanged).
    static func write(_ row: IVTRow, _ db: Database, recentEvidenceKept: Int64? = nil) throws {
        try db.cachedStatement(sql: """
            UPDATE host SET state = ?, failure_code = ?, failure_detail = ?, measured_by = ?, last_quote_at = ?, tpm_clock = ?,
                reset_count = ?, restart_count = ?, last_pcr_digest = ?, boot_log_pending = ?, verdict_state = ?, policy_digest = ?, version = ?,
                updated_at = ?, reboot_accepted = ?, evidence_next = coalesce(?, evidence_next)
            WHERE id = ?
            """).execute(arguments: [row.state.rawValue, row.failureCode, row.failureDetail, row.measuredBy, row.lastQuoteAt?.timeIntervalSince1970,
                                     row.tpmClock.map { Int64(bitPattern: $0) }, row.resetCount.map { Int64($0) }, row.restartCount.map { Int64($0) },
                                     row.lastPCRDigest, row.bootLogPending, row.verdictState?.rawValue, row.policyDigest, row.version,
                                     row.updatedAt.timeIntervalSince1970, row.rebootAcceptance, recentEvidenceKept, row.host])
    }

    /// A row's state and quote fields as a fixture sets them (``set(_:to:now:)``).
    package struct Update: Sendable {
        package var state: HostState
        package var code: String?
        package var detail: String?
        package var measuredBy: String?
        package var quoteAt: Date?
        package var tpmClock: UInt64?
        package var resetCount: UInt32?
        package var restartCount: UInt32?
        package var pcrDigest: String?

        package init(state: HostState, code: String? = nil, detail: String? = nil, measuredBy: String? = nil, quoteAt: Date? = nil,
                    tpmClock: UInt64? = nil, resetCount: UInt32? = nil, restartCount: UInt32? = nil, pcrDigest: String? = nil) {
            self.state = state
            self.code = code
            self.detail = detail
            self.measuredBy = measuredBy
            self.quoteAt = quoteAt
            self.tpmClock = tpmClock
            self.resetCount = resetCount
            self.restartCount = restartCount
            self.pcrDigest = pcrDigest
        }
    }

    /// Sets a host's row as given, audited like any change of state; returns the old state. For test fixtures and
    /// the benchmark's doubles only: the region changes rows through ``transition(_:host:now:)`` alone.
    @discardableResult
    package func set(_ update: Update, to host: String, now: Date = Date()) throws(RegionError) -> HostState? {
        try write { db in
            guard let old = try Self.row(db, host) else { return nil }
            var row = old
            row.state = update.state
            row.failureCode = update.code
            row.failureDetail = update.detail
            row.measuredBy = update.measuredBy ?? old.measuredBy
            row.lastQuoteAt = update.quoteAt ?? old.lastQuoteAt
            row.tpmClock = update.tpmClock ?? old.tpmClock
            row.resetCount = update.resetCount ?? old.resetCount
            row.restartCount = update.restartCount ?? old.restartCount
            row.lastPCRDigest = update.pcrDigest ?? old.lastPCRDigest
            row.version = old.version + 1
            row.updatedAt = now
            try Self.write(row, db)
            if old.state != row.state {
                try Self.audit(db, now, host: host, kind: "state", old: old.state.rawValue, new: row.state.rawValue, code: update.code, detail: update.detail)
            }
            return old.state
        }
    }

    /// Records an audit event on its own (a refused request, an evacuation step).
    package func audit(host: String?, kind: String, code: String?, detail: String?, now: Date = Date()) throws(RegionError) {
        try write { db in try Self.audit(db, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail) }
    }

    /// Records a refusal, aggregated: a refusal of the same kind and code for the same host within `window` of the
    /// first one in its window adds to that event's count (and moves its last time and detail) instead of adding a
    /// row. A host whose reports keep being refused costs one event per window, not one per report. A nil host
    /// (one the region does not know, whatever id the request named) is one more such host: all of them together
    /// cost one event per kind, code and window.
    package func auditAggregated(host: String?, kind: String, code: String, detail: String, window: TimeInterval, now: Date = Date()) throws(RegionError) {
        // A refusal's detail may quote the refused request (``Swift/String/storable``).
        let (code, detail) = (code.storable, detail.storable)
        // Not flushed at its commit: a count that a flood of refused requests moves (``write(durable:_:)``).
        try write(durable: false) { db in
            if let seq = try Int64.fetchOne(db.cachedStatement(sql: """
                SELECT seq FROM event WHERE host IS ? AND kind = ? AND code = ? AND at >= ? ORDER BY seq DESC LIMIT 1
                """), arguments: [host, kind, code, now.timeIntervalSince1970 - window]) {
                try db.cachedStatement(sql: "UPDATE event SET count = count + 1, last_at = ?, detail = ? WHERE seq = ?")
                    .execute(arguments: [now.timeIntervalSince1970, detail, seq])
            } else {
                try Self.audit(db, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail)
            }
        }
    }

    /// The audit events after `seq`, oldest first, at most `limit`; with `host`, only that host's.
    package func events(since seq: Int64 = 0, host: String? = nil, limit: Int = 1000) throws(RegionError) -> [IVTEvent] {
        try read { db in
            let rows = if let host {
                try Row.fetchAll(db, sql: "SELECT * FROM event WHERE host = ? AND seq > ? ORDER BY seq LIMIT ?", arguments: [host, seq, limit])
            } else {
                try Row.fetchAll(db, sql: "SELECT * FROM event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit])
            }
            return try rows.map { r in
                IVTEvent(seq: try r.decode(forColumn: "seq"), at: Date(timeIntervalSince1970: try r.decode(forColumn: "at")),
                         host: try r.decode(forColumn: "host"), kind: try r.decode(forColumn: "kind"),
                         oldState: try r.decode(forColumn: "old_state"), newState: try r.decode(forColumn: "new_state"),
                         code: try r.decode(forColumn: "code"), detail: try r.decode(forColumn: "detail"),
                         count: try r.decode(forColumn: "count"),
                         lastAt: (try r.decode(forColumn: "last_at") as Double?).map(Date.init(timeIntervalSince1970:)),
                         evacuation: try Self.decodeEvacuationFields(r))
            }
        }
    }

    /// The newest audit event's number (0 when there is none). One statement, so it is read without the
    /// transaction a snapshot read opens (asked before every request an agent makes).
    package func lastEventSeq() throws(RegionError) -> Int64 {
        do { return try pool.unsafeRead { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM event")) ?? 0 } } catch {
            throw RegionError(.storeCorrupt, "IVT database \(path): \(error)")
        }
    }

    // MARK: Enrolment

    package func enrolment(_ host: String) throws(RegionError) -> Enrolment? {
        try read { db in
            guard let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, ak_public, ak_name, ek_certificate, enrolled_at, revoked FROM host WHERE id = ?"), arguments: [host]) else { return nil }
            return try Self.decodeEnrolment(r, host: host)
        }
    }

    /// A host's enrolment and its row, read together (one read per verification).
    package func enrolmentAndRow(_ host: String) throws(RegionError) -> (enrolment: Enrolment?, row: IVTRow)? {
        try read { db in
            guard let r = try Row.fetchOne(db.cachedStatement(sql: Self.selectRows + " WHERE id = ?"), arguments: [host]) else { return nil }
            return (try Self.decodeEnrolment(r, host: host), try Self.decodeRow(r))
        }
    }

    static func decodeEnrolment(_ r: Row, host: String) throws -> Enrolment? {
        guard let ak: Data = try r.decode(forColumn: "ak_public") else { return nil }
        return Enrolment(host: host, akPublic: [UInt8](ak), akName: try r.decode(forColumn: "ak_name") ?? "",
                         ekCertificate: try r.decode(forColumn: "ek_certificate") ?? "",
                         enrolledAt: Date(timeIntervalSince1970: try r.decode(forColumn: "enrolled_at") ?? 0),
                         revoked: try r.decode(forColumn: "revoked"))
    }

    /// Revokes a host: its certificate is refused from then on and it must enrol again.
    package func revoke(host: String, now: Date = Date()) throws(RegionError) {
        try write { db in
            try db.execute(sql: "UPDATE host SET revoked = 1 WHERE id = ?", arguments: [host])
            guard db.changesCount == 1 else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            _ = try Self.transition(db, .revoked, host: host, now: now)
        }
    }

    // MARK: Plumbing

    static func audit(_ db: Database, _ now: Date, host: String?, kind: String, old: String?, new: String?, code: String?, detail: String?,
                      evacuation: EvacuationFields? = nil) throws {
        try db.cachedStatement(sql: """
            INSERT INTO event (at, host, kind, old_state, new_state, code, detail, vm, source, target, outcome)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
            .execute(arguments: [now.timeIntervalSince1970, host, kind, old, new, code, detail,
                                 evacuation?.vm, evacuation?.source, evacuation?.target, evacuation?.outcome])
    }

    /// The host columns ``decodeRow(_:)`` reads, in the order it reads them: rows are decoded by position, not by
    /// name (a lookup by name per column per row costs more than the rest of the decode).
    static let rowColumns = "id, address, state, ak_name, ek_certificate, enrolled_at, revoked, last_quote_at, tpm_clock, reset_count, " +
        "restart_count, last_pcr_digest, measured_by, failure_code, failure_detail, policy_name, policy_digest, vms, capacity, version, " +
        "updated_at, boot_log_pending, ak_public, verdict_state, reboot_accepted"
    static let selectRows = "SELECT \(rowColumns) FROM host"
    static let rowColumnCount = rowColumns.split(separator: ",").count
    /// ``selectRows`` and, after the row's columns, where its evidence ring is (``RecentEvidencePlace``).
    static let selectRowsAndEvidencePlace = "SELECT \(rowColumns), evidence_ring, evidence_next FROM host"

    static func decodeRow(_ r: Row) throws -> IVTRow {
        let id: String = try r.decode(atIndex: 0)
        let stateText: String = try r.decode(atIndex: 2)
        guard let state = HostState(rawValue: stateText) else {
            throw RegionError(.storeCorrupt, "table host, row \(id), column state: '\(stateText)' is not a state")
        }
        let vmsText: String = try r.decode(atIndex: 17)
        let verdictText: String? = try r.decode(atIndex: 23)
        var verdictState: HostState? {
            get throws {
                guard let verdictText else { return nil }
                guard let s = HostState(rawValue: verdictText) else {
                    throw RegionError(.storeCorrupt, "table host, row \(id), column verdict_state: '\(verdictText)' is not a state")
                }
                return s
            }
        }
        let clock: Int64? = try r.decode(atIndex: 8)
        let reset: Int64? = try r.decode(atIndex: 9)
        let restart: Int64? = try r.decode(atIndex: 10)
        return IVTRow(
            host: id, address: try r.decode(atIndex: 1), state: state,
            akName: try r.decode(atIndex: 3), ekCertificate: try r.decode(atIndex: 4),
            enrolledAt: (try r.decode(atIndex: 5) as Double?).map(Date.init(timeIntervalSince1970:)),
            revoked: try r.decode(atIndex: 6),
            lastQuoteAt: (try r.decode(atIndex: 7) as Double?).map(Date.init(timeIntervalSince1970:)),
            tpmClock: clock.map { UInt64(bitPattern: $0) }, resetCount: reset.flatMap { UInt32(exactly: $0) },
            restartCount: restart.flatMap { UInt32(exactly: $0) },
            lastPCRDigest: try r.decode(atIndex: 11), measuredBy: try r.decode(atIndex: 12),
            failureCode: try r.decode(atIndex: 13), failureDetail: try r.decode(atIndex: 14),
            policyName: try r.decode(atIndex: 15), policyDigest: try r.decode(atIndex: 16),
            vms: vmsText.isEmpty ? [] : vmsText.split(separator: ",").map(String.init),
            capacity: try r.decode(atIndex: 18), version: try r.decode(atIndex: 19),
            updatedAt: Date(timeIntervalSince1970: try r.decode(atIndex: 20)),
            bootLogPending: try r.decode(atIndex: 21),
            verdictState: try verdictState, rebootAcceptance: try r.decode(atIndex: 24))
    }

    func read<T>(_ body: (Database) throws -> T) throws(RegionError) -> T {
        do { return try pool.read(body) } catch { throw coded(error, as: .storeCorrupt) }
    }

    /// A transaction outside the group commit of verdicts: an enrolment, a certificate, a revocation, an evacuation's
    /// record or step, a reboot accepted, the VM placement. `durable` (the default): the WAL is flushed to the disk at
    /// its commit (`synchronous = FULL` for this transaction, then back to the writer's `NORMAL`), so what the RC-TCB
    /// answered or acted on survives a power failure, and so does every verdict committed before it (the WAL is
    /// flushed whole). These writes are few; the verdicts, many, are flushed at checkpoints (``IVTGroupCommit``).
    /// Not durable: the count of an aggregated refusal, which a flood of refused requests would otherwise turn into a
    /// flush each.
    func write<T>(durable: Bool = true, _ body: (Database) throws -> T) throws(RegionError) -> T {
        do {
            guard durable, !flushesEveryCommit else { return try pool.write(body) }
            return try pool.writeWithoutTransaction { db in
                try db.cachedStatement(sql: "PRAGMA synchronous = FULL").execute()
                defer { try? db.cachedStatement(sql: "PRAGMA synchronous = NORMAL").execute() }
                var value: T?
                try db.inTransaction(.immediate) {
                    value = try body(db)
                    return .commit
                }
                guard let value else { throw RegionError(.storeFailed, "a transaction committed without its result") }
                return value
            }
        } catch { throw coded(error, as: .storeFailed) }
    }
}

extension IVTStore {
    /// Records which VMs run on each host (the IVT's `vms` column); not an audited state change.
    package func setVMs(_ placement: [String: [String]], now: Date = Date()) throws(RegionError) {
        try write { db in
            for (host, vms) in placement {
                try db.execute(sql: "UPDATE host SET vms = ? WHERE id = ?", arguments: [vms.sorted().joined(separator: ","), host])
            }
        }
    }
}
