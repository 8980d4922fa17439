package import Foundation
import GRDB

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
    package var policyDigest: String?
    package var vms: [String]
    package var capacity: Int?
    package var version: Int
    package var updatedAt: Date
    /// Set when the host turned `rebooted`, cleared when it is `trusted` again (which takes a boot log that
    /// replays): a reboot is not forgotten when the host is `unreachable` or `untrusted` in between.
    package var bootLogPending: Bool = false
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
}

/// The IVT in SQLite (WAL): hosts, enrolments and the audit trail. Every change and its audit event are written
/// in one transaction, so a crash loses neither alone. Stored values are decoded with coded errors, never trapped on.
package final class IVTStore: Sendable {
    let pool: DatabasePool
    package let path: String

    package init(path: String) throws(RegionError) {
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
        registerEKBinding(&m)
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
                    try db.execute(sql: "UPDATE host SET address = ?, capacity = ?, policy_name = ?, policy_digest = ? WHERE id = ?",
                                   arguments: [h.address, h.capacity, policyName, policyDigest, h.id])
                }
            }
        }
    }

    package func rows() throws(RegionError) -> [IVTRow] {
        try read { db in try Row.fetchAll(db.cachedStatement(sql: Self.selectRows + " ORDER BY id")).map(Self.decodeRow) }
    }

    package func row(_ host: String) throws(RegionError) -> IVTRow? {
        try read { db in try Row.fetchOne(db.cachedStatement(sql: Self.selectRows + " WHERE id = ?"), arguments: [host]).map(Self.decodeRow) }
    }

    /// What a verdict changes in a host's row.
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
        /// Set by the evacuation itself: leaves `evacuating` / `evacuated`, which verdicts do not override.
        package var force = false

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

    /// Applies `update` to `host`; a change of state is an audit event in the same transaction. Returns the old state.
    @discardableResult
    package func apply(_ update: Update, to host: String, now: Date = Date()) throws(RegionError) -> HostState? {
        try applyAndRead(update, to: host, now: now)?.old
    }

    /// What ``applyAndRead(_:to:now:)`` changed: the state before, the row after, and the number of the audit
    /// event it wrote (nil when the state did not change).
    package struct Applied: Sendable {
        package var old: HostState
        package var row: IVTRow
        package var eventSeq: Int64?
    }

    /// ``apply(_:to:now:)`` that also returns the row as written and its audit event's number, read in the same
    /// transaction: a caller holding a copy of the table can update that one row instead of re-reading them all.
    package func applyAndRead(_ update: Update, to host: String, now: Date = Date()) throws(RegionError) -> Applied? {
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
    package func audit(host: String?, kind: String, code: String?, detail: String?, now: Date = Date()) throws(RegionError) {
        try write { db in try Self.audit(db, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail) }
    }

    package func events(since seq: Int64 = 0, limit: Int = 1000) throws(RegionError) -> [IVTEvent] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM event WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [seq, limit]).map { r in
                IVTEvent(seq: try r.decode(forColumn: "seq"), at: Date(timeIntervalSince1970: try r.decode(forColumn: "at")),
                         host: try r.decode(forColumn: "host"), kind: try r.decode(forColumn: "kind"),
                         oldState: try r.decode(forColumn: "old_state"), newState: try r.decode(forColumn: "new_state"),
                         code: try r.decode(forColumn: "code"), detail: try r.decode(forColumn: "detail"))
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
    package func setVMs(_ placement: [String: [String]], now: Date = Date()) throws(RegionError) {
        try write { db in
            for (host, vms) in placement {
                try db.execute(sql: "UPDATE host SET vms = ? WHERE id = ?", arguments: [vms.sorted().joined(separator: ","), host])
            }
        }
    }
}
