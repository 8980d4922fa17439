public import Foundation
import GRDB

/// One row of the integrity validation table.
public struct IVTRow: Sendable, Hashable, Codable {
    public var host: String
    public var address: String
    public var state: HostState
    public var akName: String?
    public var ekCertificate: String?
    public var enrolledAt: Date?
    public var revoked: Bool
    /// RC-TCB clock of the last verified quote.
    public var lastQuoteAt: Date?
    public var tpmClock: UInt64?
    public var resetCount: UInt32?
    public var restartCount: UInt32?
    public var lastPCRDigest: String?
    /// Who produced the last verdict: a ring neighbour's host id, or `rc-tcb` for a direct challenge.
    public var measuredBy: String?
    public var failureCode: String?
    public var failureDetail: String?
    public var policyName: String?
    public var policyDigest: String?
    public var vms: [String]
    public var capacity: Int?
    public var version: Int
    public var updatedAt: Date
    /// Set when the host turned `rebooted`, cleared when it is `trusted` again (which takes a boot log that
    /// replays): a reboot is not forgotten when the host is `unreachable` or `untrusted` in between.
    public var bootLogPending: Bool = false
}

/// One audited change.
public struct IVTEvent: Sendable, Hashable, Codable {
    public var seq: Int64
    public var at: Date
    public var host: String?
    public var kind: String
    public var oldState: String?
    public var newState: String?
    public var code: String?
    public var detail: String?
}

/// What the RC-TCB recorded when a host enrolled.
public struct Enrolment: Sendable, Hashable {
    public var host: String
    /// The AK's TPM2B_PUBLIC.
    public var akPublic: [UInt8]
    public var akName: String
    public var ekCertificate: String
    public var enrolledAt: Date
    public var revoked: Bool
}

/// The IVT in SQLite (WAL): hosts, enrolments and the audit trail. Every change and its audit event are written
/// in one transaction, so a crash loses neither alone. Stored values are decoded with coded errors, never trapped on.
public final class IVTStore: Sendable {
    let pool: DatabasePool
    public let path: String

    public init(path: String) throws(RegionError) {
        self.path = path
        do {
            var config = Configuration()
            config.busyMode = .timeout(10)
            pool = try DatabasePool(path: path, configuration: config)
            try Self.migrator.migrate(pool)
        } catch {
            throw RegionError(.storeFailed, "cannot open the IVT database \(path): \(error)")
        }
    }

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
        return m
    }

    // MARK: Hosts

    /// Adds the region's hosts that are not in the table yet (state `unknown`) and updates addresses.
    public func seed(hosts: [(id: String, address: String, capacity: Int?)], policyName: String, policyDigest: String, now: Date = Date()) throws(RegionError) {
        try write { db in
            for h in hosts {
                if try Row.fetchOne(db, sql: "SELECT id FROM host WHERE id = ?", arguments: [h.id]) == nil {
                    try db.execute(sql: "INSERT INTO host (id, address, capacity, policy_name, policy_digest, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                                   arguments: [h.id, h.address, h.capacity, policyName, policyDigest, now.timeIntervalSince1970])
                    try Self.audit(db, now, host: h.id, kind: "host-added", old: nil, new: HostState.unknown.rawValue, code: nil, detail: h.address)
                } else {
                    try db.execute(sql: "UPDATE host SET address = ?, capacity = ?, policy_name = ?, policy_digest = ? WHERE id = ?",
                                   arguments: [h.address, h.capacity, policyName, policyDigest, h.id])
                }
            }
        }
    }

    public func rows() throws(RegionError) -> [IVTRow] {
        try read { db in try Row.fetchAll(db.cachedStatement(sql: Self.selectRows + " ORDER BY id")).map(Self.decodeRow) }
    }

    public func row(_ host: String) throws(RegionError) -> IVTRow? {
        try read { db in try Row.fetchOne(db.cachedStatement(sql: Self.selectRows + " WHERE id = ?"), arguments: [host]).map(Self.decodeRow) }
    }

    /// What a verdict changes in a host's row.
    public struct Update: Sendable {
        public var state: HostState
        public var code: String?
        public var detail: String?
        public var measuredBy: String?
        public var quoteAt: Date?
        public var tpmClock: UInt64?
        public var resetCount: UInt32?
        public var restartCount: UInt32?
        public var pcrDigest: String?
        /// Set by the evacuation itself: leaves `evacuating` / `evacuated`, which verdicts do not override.
        public var force = false

        public init(state: HostState, code: String? = nil, detail: String? = nil, measuredBy: String? = nil, quoteAt: Date? = nil,
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

    /// Applies `update` to `host`; a change of state is an audit event in the same transaction. Returns the old state.
    @discardableResult
    public func apply(_ update: Update, to host: String, now: Date = Date()) throws(RegionError) -> HostState? {
        try applyAndRead(update, to: host, now: now)?.old
    }

    /// What ``applyAndRead(_:to:now:)`` changed: the state before, the row after, and the number of the audit
    /// event it wrote (nil when the state did not change).
    public struct Applied: Sendable {
        public var old: HostState
        public var row: IVTRow
        public var eventSeq: Int64?
    }

    /// ``apply(_:to:now:)`` that also returns the row as written and its audit event's number, read in the same
    /// transaction: a caller holding a copy of the table can update that one row instead of re-reading them all.
    public func applyAndRead(_ update: Update, to host: String, now: Date = Date()) throws(RegionError) -> Applied? {
        try write { db in
            guard let row = try Row.fetchOne(db.cachedStatement(sql: Self.selectRows + " WHERE id = ?"), arguments: [host]) else { return nil }
            let old = try Self.decodeRow(row)
            var update = update
            // An evacuation in progress is ended only by the evacuation; an emptied host stays `evacuated` until
            // verified evidence says it is good again. Its quote data is still recorded.
            if !update.force, (old.state == .evacuating && update.state != .evacuated) || (old.state == .evacuated && ![.trusted, .rebooted].contains(update.state)) {
                update.state = old.state
                update.code = update.code ?? old.failureCode
                update.detail = update.detail ?? old.failureDetail
            }
            try db.cachedStatement(sql: """
                UPDATE host SET state = ?, failure_code = ?, failure_detail = ?,
                    measured_by = COALESCE(?, measured_by), last_quote_at = COALESCE(?, last_quote_at),
                    tpm_clock = COALESCE(?, tpm_clock), reset_count = COALESCE(?, reset_count),
                    restart_count = COALESCE(?, restart_count), last_pcr_digest = COALESCE(?, last_pcr_digest),
                    boot_log_pending = CASE ? WHEN 'rebooted' THEN 1 WHEN 'trusted' THEN 0 ELSE boot_log_pending END,
                    version = version + 1, updated_at = ?
                WHERE id = ?
                """).execute(arguments: [update.state.rawValue, update.code, update.detail, update.measuredBy, update.quoteAt?.timeIntervalSince1970,
                                 update.tpmClock.map { Int64(bitPattern: $0) }, update.resetCount.map { Int64($0) }, update.restartCount.map { Int64($0) },
                                 update.pcrDigest, update.state.rawValue, now.timeIntervalSince1970, host])
            var seq: Int64?
            if old.state != update.state {
                try Self.audit(db, now, host: host, kind: "state", old: old.state.rawValue, new: update.state.rawValue, code: update.code, detail: update.detail)
                seq = db.lastInsertedRowID
            }
            guard let written = try Row.fetchOne(db.cachedStatement(sql: Self.selectRows + " WHERE id = ?"), arguments: [host]) else {
                throw RegionError(.storeFailed, "table host, row \(host): gone within its own transaction")
            }
            return Applied(old: old.state, row: try Self.decodeRow(written), eventSeq: seq)
        }
    }

    /// Records an audit event on its own (a refused request, an evacuation step).
    public func audit(host: String?, kind: String, code: String?, detail: String?, now: Date = Date()) throws(RegionError) {
        try write { db in try Self.audit(db, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail) }
    }

    public func events(since seq: Int64 = 0, limit: Int = 1000) throws(RegionError) -> [IVTEvent] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]).map { r in
                IVTEvent(seq: try r.decode(forColumn: "seq"), at: Date(timeIntervalSince1970: try r.decode(forColumn: "at")),
                         host: try r.decode(forColumn: "host"), kind: try r.decode(forColumn: "kind"),
                         oldState: try r.decode(forColumn: "old_state"), newState: try r.decode(forColumn: "new_state"),
                         code: try r.decode(forColumn: "code"), detail: try r.decode(forColumn: "detail"))
            }
        }
    }

    /// The newest audit event's number (0 when there is none).
    public func lastEventSeq() throws(RegionError) -> Int64 {
        try read { db in try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(seq) FROM event")) ?? 0 }
    }

    // MARK: Enrolment

    public func enrolment(_ host: String) throws(RegionError) -> Enrolment? {
        try read { db in
            guard let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT id, ak_public, ak_name, ek_certificate, enrolled_at, revoked FROM host WHERE id = ?"), arguments: [host]) else { return nil }
            return try Self.decodeEnrolment(r, host: host)
        }
    }

    /// A host's enrolment and its row, read together (one read per verification).
    public func enrolmentAndRow(_ host: String) throws(RegionError) -> (enrolment: Enrolment?, row: IVTRow)? {
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

    /// Records a completed enrolment (AK, EK certificate identity) as an audited event; clears a revocation.
    public func recordEnrolment(host: String, akPublic: [UInt8], akName: String, ekCertificate: String, now: Date = Date()) throws(RegionError) {
        try write { db in
            try db.execute(sql: """
                UPDATE host SET ak_public = ?, ak_name = ?, ek_certificate = ?, enrolled_at = ?, revoked = 0,
                    state = 'unknown', version = version + 1, updated_at = ? WHERE id = ?
                """, arguments: [Data(akPublic), akName, ekCertificate, now.timeIntervalSince1970, now.timeIntervalSince1970, host])
            guard db.changesCount == 1 else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            try Self.audit(db, now, host: host, kind: "enrolled", old: nil, new: nil, code: nil, detail: "AK \(akName); EK \(ekCertificate)")
        }
    }

    /// Revokes a host: its certificate is refused from then on and it must enrol again.
    public func revoke(host: String, now: Date = Date()) throws(RegionError) {
        try write { db in
            try db.execute(sql: "UPDATE host SET revoked = 1, state = 'untrusted', failure_code = 'enrol.revoked', failure_detail = 'revoked by the operator', version = version + 1, updated_at = ? WHERE id = ?",
                           arguments: [now.timeIntervalSince1970, host])
            guard db.changesCount == 1 else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            try Self.audit(db, now, host: host, kind: "revoked", old: nil, new: HostState.untrusted.rawValue, code: "enrol.revoked", detail: nil)
        }
    }

    // MARK: Plumbing

    static func audit(_ db: Database, _ now: Date, host: String?, kind: String, old: String?, new: String?, code: String?, detail: String?) throws {
        try db.cachedStatement(sql: "INSERT INTO event (at, host, kind, old_state, new_state, code, detail) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .execute(arguments: [now.timeIntervalSince1970, host, kind, old, new, code, detail])
    }

    /// The host columns ``decodeRow(_:)`` reads, in the order it reads them: rows are decoded by position, not by
    /// name (a lookup by name per column per row costs more than the rest of the decode).
    static let rowColumns = "id, address, state, ak_name, ek_certificate, enrolled_at, revoked, last_quote_at, tpm_clock, reset_count, " +
        "restart_count, last_pcr_digest, measured_by, failure_code, failure_detail, policy_name, policy_digest, vms, capacity, version, " +
        "updated_at, boot_log_pending, ak_public"
    static let selectRows = "SELECT \(rowColumns) FROM host"

    static func decodeRow(_ r: Row) throws -> IVTRow {
        let id: String = try r.decode(atIndex: 0)
        let stateText: String = try r.decode(atIndex: 2)
        guard let state = HostState(rawValue: stateText) else {
            throw RegionError(.storeCorrupt, "table host, row \(id), column state: '\(stateText)' is not a state")
        }
        let vmsText: String = try r.decode(atIndex: 17)
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
            bootLogPending: try r.decode(atIndex: 21))
    }

    func read<T>(_ body: (Database) throws -> T) throws(RegionError) -> T {
        do { return try pool.read(body) } catch let e as RegionError { throw e } catch {
            throw RegionError(.storeCorrupt, "IVT database \(path): \(error)")
        }
    }

    func write<T>(_ body: (Database) throws -> T) throws(RegionError) -> T {
        do { return try pool.write(body) } catch let e as RegionError { throw e } catch {
            throw RegionError(.storeFailed, "IVT database \(path): \(error)")
        }
    }
}

extension IVTStore {
    /// Records which VMs run on each host (the IVT's `vms` column); not an audited state change.
    public func setVMs(_ placement: [String: [String]], now: Date = Date()) throws(RegionError) {
        try write { db in
            for (host, vms) in placement {
                try db.execute(sql: "UPDATE host SET vms = ? WHERE id = ?", arguments: [vms.sorted().joined(separator: ","), host])
            }
        }
    }

    /// The operator lets a host enrol again: its enrolled AK is forgotten and its revocation lifted.
    public func readmit(host: String, now: Date = Date()) throws(RegionError) {
        try write { db in
            try db.execute(sql: "UPDATE host SET revoked = 0, ak_public = NULL, ak_name = NULL, ek_certificate = NULL, enrolled_at = NULL, state = 'unknown', failure_code = NULL, failure_detail = NULL, version = version + 1, updated_at = ? WHERE id = ?",
                           arguments: [now.timeIntervalSince1970, host])
            guard db.changesCount == 1 else { throw RegionError(.unknownHost, "host \(host) is not in the IVT") }
            try Self.audit(db, now, host: host, kind: "readmitted", old: nil, new: HostState.unknown.rawValue, code: nil, detail: nil)
        }
    }
}
