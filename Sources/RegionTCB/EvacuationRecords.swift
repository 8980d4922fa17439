package import Foundation
import GRDB

/// One evacuation of one host: the verdict that caused it, kept as it was when the evacuation began. Later
/// verdicts change the host's row (its failure code follows the newest evidence); they never change this.
package struct EvacuationRecord: Sendable, Hashable, Codable {
    package var id: Int64
    package var host: String
    /// The host's state when the evacuation began: `untrusted` or `unreachable`.
    package var causeState: String
    /// The failure code and detail of the verdict that caused it (e.g. `golden.digest-not-allowed`).
    package var causeCode: String?
    package var causeDetail: String?
    package var startedAt: Date
    /// Nil while the evacuation is open.
    package var endedAt: Date?
    /// How it ended: `evacuated` (no VM left), `recovered` (a silent host verified trusted again), or `ended` (it
    /// verified trusted, but a newer verdict came before the evacuation ended; a new evacuation starts from that).
    package var outcome: String?
    package var detail: String?

    /// Evacuated because the host fell silent (not on evidence of a bad state).
    package var causedBySilence: Bool { causeState == HostState.unreachable.rawValue }

    package init(id: Int64, host: String, causeState: String, causeCode: String?, causeDetail: String?, startedAt: Date, endedAt: Date? = nil,
                 outcome: String? = nil, detail: String? = nil) {
        (self.id, self.host, self.causeState, self.causeCode, self.causeDetail) = (id, host, causeState, causeCode, causeDetail)
        (self.startedAt, self.endedAt, self.outcome, self.detail) = (startedAt, endedAt, outcome, detail)
    }
}

/// The RC-TCB's evacuation records, a table of their own in the region store (written only by the evacuator): at
/// most one open evacuation per host.
package struct EvacuationRecords: Sendable {
    let store: any RegionStore

    package init(store: any RegionStore) {
        self.store = store
    }

    /// The host's open evacuation, or a new one caused by `state`/`code`/`detail` (the row as it is now).
    package func open(host: String, state: HostState, code: String?, detail: String?, now: Date = Date()) async throws(RegionError) -> EvacuationRecord {
        try await store.openEvacuation(host: host, state: state, code: code, detail: detail, now: now)
    }

    /// The host's open evacuation, if any.
    package func current(host: String) async throws(RegionError) -> EvacuationRecord? {
        try await store.currentEvacuation(host: host)
    }

    /// Closes the host's open evacuation with `outcome`.
    package func close(host: String, outcome: String, detail: String, now: Date = Date()) async throws(RegionError) {
        try await store.closeEvacuation(host: host, outcome: outcome, detail: detail, now: now)
    }

    /// Every evacuation, newest first.
    package func all(limit: Int = 1000) async throws(RegionError) -> [EvacuationRecord] {
        try await store.evacuations(limit: limit)
    }
}

extension IVTStore {
    static func registerEvacuations(_ m: inout DatabaseMigrator) {
        // IF NOT EXISTS: the evacuator created this table itself before it was a migration.
        m.registerMigration("v9: evacuation records") { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS evacuation (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL, cause_state TEXT NOT NULL,
                    cause_code TEXT, cause_detail TEXT, started_at REAL NOT NULL,
                    ended_at REAL, outcome TEXT, detail TEXT);
                CREATE UNIQUE INDEX IF NOT EXISTS one_open_evacuation_per_host ON evacuation(host) WHERE ended_at IS NULL;
                """)
        }
    }

    package func openEvacuation(host: String, state: HostState, code: String?, detail: String?, now: Date = Date()) throws(RegionError) -> EvacuationRecord {
        try write { db in
            if let open = try Row.fetchOne(db, sql: "SELECT * FROM evacuation WHERE host = ? AND ended_at IS NULL", arguments: [host]) {
                return try Self.decodeEvacuation(open)
            }
            try db.execute(sql: "INSERT INTO evacuation (host, cause_state, cause_code, cause_detail, started_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [host, state.rawValue, code, detail, now.timeIntervalSince1970])
            return EvacuationRecord(id: db.lastInsertedRowID, host: host, causeState: state.rawValue, causeCode: code, causeDetail: detail,
                                    startedAt: Date(timeIntervalSince1970: now.timeIntervalSince1970))
        }
    }

    package func currentEvacuation(host: String) throws(RegionError) -> EvacuationRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM evacuation WHERE host = ? AND ended_at IS NULL", arguments: [host]).map(Self.decodeEvacuation)
        }
    }

    package func closeEvacuation(host: String, outcome: String, detail: String, now: Date = Date()) throws(RegionError) {
        try write { db in
            try db.execute(sql: "UPDATE evacuation SET ended_at = ?, outcome = ?, detail = ? WHERE host = ? AND ended_at IS NULL",
                           arguments: [now.timeIntervalSince1970, outcome, detail, host])
        }
    }

    package func evacuations(limit: Int = 1000) throws(RegionError) -> [EvacuationRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evacuation ORDER BY id DESC LIMIT ?", arguments: [limit]).map(Self.decodeEvacuation)
        }
    }

    static func decodeEvacuation(_ r: Row) throws -> EvacuationRecord {
        EvacuationRecord(id: try r.decode(forColumn: "id"), host: try r.decode(forColumn: "host"), causeState: try r.decode(forColumn: "cause_state"),
                         causeCode: try r.decode(forColumn: "cause_code"), causeDetail: try r.decode(forColumn: "cause_detail"),
                         startedAt: Date(timeIntervalSince1970: try r.decode(forColumn: "started_at")),
                         endedAt: (try r.decode(forColumn: "ended_at") as Double?).map(Date.init(timeIntervalSince1970:)),
                         outcome: try r.decode(forColumn: "outcome"), detail: try r.decode(forColumn: "detail"))
    }
}
