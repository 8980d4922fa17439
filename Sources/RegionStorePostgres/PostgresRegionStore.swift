import Attestation
package import Foundation
package import Logging
import PostgresNIO
import Synchronization
package import RegionTCB

/// The region store in PostgreSQL: the IVT's host rows and the audit trail of one region, in a database that
/// several regions (and several RC-TCBs of one region) may share. Every row carries its `region`; this store reads
/// and writes its own region's rows only.
///
/// A transition reads the host's row `FOR UPDATE` (a row lock, in PostgreSQL's default READ COMMITTED isolation):
/// a second transition of the same host, on any connection of any RC-TCB, waits for the first to commit and then
/// applies ``HostTransition`` to the row the first wrote, so no update is lost and nothing is retried. Audit
/// events of a region are appended under that region's advisory transaction lock, so their sequence numbers
/// commit in order and a reader following `events(since:)` skips none. The RC-TCB's verdicts are group-committed
/// (``PostgresBatch``): those that arrive together share one transaction of four round trips.
///
/// Several RC-TCBs of one region: the one that holds the region's ``LeaderLease`` writes through ``leading(_:)``,
/// whose every write transaction is refused (`store.fenced`) once the lease is no longer the region's.
package final class PostgresRegionStore: RegionStore {
    package let region: String
    package let url: PostgresStoreURL
    /// How long each operation may wait for the database.
    package let limits: PostgresStoreLimits
    let client: PostgresClient
    /// The task that runs the connection pool; nil in a view that shares another store's pool (``leading(_:)``).
    let runner: Task<Void, Never>?
    let logger: Logger
    /// The lease every write of this store is fenced by (``leading(_:)``); nil: writes are not fenced.
    package let fence: LeaderLease?
    /// The verdicts waiting for the next transaction of this store (or view), fenced by its lease (group commit:
    /// ``transition(_:host:judgedUnder:judged:now:)``).
    let groupCommit = PostgresBatch<TransitionRequest, IVTStore.Applied?>(maxBatch: 64) { $0.host }
    /// The ring nonces waiting to be recorded, and to be spent, in the next statement of their kind (``recordNonce(_:reporter:target:expires:now:carried:)``).
    let nonceRecords = PostgresBatch<NonceRecord, Void>(maxBatch: 128) { $0.hex }
    let nonceSpends = PostgresBatch<NonceRecord, Bool>(maxBatch: 128) { $0.hex }
    /// How many groups of verdicts the statement of fixed text wrote (``writeQuiet(_:old:_:)``), committed or not.
    let quietGroups = Mutex<Int>(0)
    /// The audit trail's last number, one read for all who ask at once (``lastEventSeq()``).
    let lastEventReads = PostgresBatch<Void, Int64>(maxBatch: .max, key: nil)
    /// How many times the audit trail's last number was asked for, and how many reads answered.
    package var lastEventSeqServed: (asked: Int, read: Int) {
        let w = lastEventReads.written
        return (w.requests, w.batches)
    }
    /// How many transactions of verdicts this store (or view) has committed, and how many verdicts they held.
    package var groupCommitWritten: (transactions: Int, verdicts: Int) {
        let w = groupCommit.written
        return (w.batches, w.requests)
    }
    /// How many groups of verdicts that write no audit event the statement of fixed text wrote (committed or not).
    package var quietGroupsWritten: Int { quietGroups.withLock { $0 } }
    /// How many statements recorded ring nonces, and how many nonces they recorded; the same for the nonces spent.
    package var nonceStatements: (recorded: (statements: Int, nonces: Int), spent: (statements: Int, nonces: Int)) {
        let (r, s) = (nonceRecords.written, nonceSpends.written)
        return ((r.batches, r.requests), (s.batches, s.requests))
    }

    package var location: String { "\(url) (region \(region))" }

    /// Connects once (a server that cannot be reached or refuses the login is `store.unreachable` at once, not
    /// on the first write), migrates the schema, and starts the connection pool.
    ///
    /// `limits` bound every wait for the database (``PostgresStoreLimits``): an operation that has no answer within
    /// `limits.operation` is `store.unreachable`.
    package static func open(url text: String, region: String, limits: PostgresStoreLimits = .standard,
                             logger: Logger = Logger(label: "smig.store.postgresql")) async throws(RegionError) -> PostgresRegionStore {
        let url = try PostgresStoreURL(text)
        guard !region.isEmpty else {
            throw RegionError(.storeBadURL, "store \(url): empty region name", hint: "every region sharing a database has its own name")
        }
        // The schema's migration runs in one transaction of several statements; a process slowed by load between two
        // of them is not the stalled client the pool's idle-in-transaction limit is for, so this connection asks for
        // no less than an operation's bound.
        var relaxed = limits
        relaxed.idleInTransaction = max(limits.idleInTransaction, limits.operation)
        let configuration = try url.connectionConfiguration(limits: relaxed)
        // Connecting and migrating are bounded together: a server that accepts the connection and then says nothing
        // (frozen, or a link that drops packets), or a connection ended under a statement, must not hold the caller
        // for ever. The login itself is bounded by `limits.connect`; this bound is for the migration's statements and
        // generous (two minutes at least): it only has to end a wait that would never end, and a process whose
        // threads are all busy for a while (a test process starting dozens of daemons at once) must not fail a
        // migration that was merely slow.
        let bound = limits.connect + max(limits.operation, .seconds(120))
        do {
            try await Deadline.run(within: bound, timeout: {
                RegionError(.storeUnreachable, "store \(url): no answer within \(bound) while connecting and migrating the schema",
                            hint: "check that PostgreSQL at \(url.host):\(url.port) is running and reachable from this machine")
            }) {
                try await connectAndMigrate(url, configuration, logger: logger)
            }
        } catch let e as RegionError {
            throw e
        } catch {
            throw RegionError(.storeFailed, "store \(url): \(Self.describe(error))")
        }
        return PostgresRegionStore(url: url, region: region, limits: limits, logger: logger)
    }

    /// The store's first connection: checks that the server answers and the login works, migrates the schema, closes.
    static func connectAndMigrate(_ url: PostgresStoreURL, _ configuration: PostgresConnection.Configuration, logger: Logger) async throws(RegionError) {
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
        } catch {
            throw RegionError(.storeUnreachable, "store \(url): cannot connect: \(Self.describe(error))",
                              hint: "check that PostgreSQL listens at \(url.host):\(url.port), and that the user, password and database are right")
        }
        do {
            try await PostgresSchema.migrate(connection, logger: logger)
            try await connection.close()
        } catch {
            try? await connection.close()
            throw RegionError(.storeFailed, "store \(url): cannot migrate the schema: \(Self.describe(error))",
                              hint: "the user needs to create tables in database \(url.database)")
        }
    }

    private init(url: PostgresStoreURL, region: String, limits: PostgresStoreLimits, logger: Logger) {
        self.url = url
        self.region = region
        self.limits = limits
        self.logger = logger
        let client = PostgresClient(configuration: url.clientConfiguration(limits: limits), backgroundLogger: logger)
        self.client = client
        runner = Task { await client.run() }
        fence = nil
    }

    init(sharing store: PostgresRegionStore, fence: LeaderLease) {
        (url, region, limits, logger, client, runner, self.fence) = (store.url, store.region, store.limits, store.logger, store.client, nil, fence)
    }

    /// Closes the pool's connections; the store and its views cannot be used afterwards. A view's close does nothing.
    ///
    /// The pool's `run()` is cancelled and waited for at most ``closeGrace``: a pool that does not end by then (a
    /// connection attempt in flight) is left to the process's exit rather than holding a shutdown or a test forever.
    package func close() async {
        guard let runner else { return }
        runner.cancel()
        let ended = await Self.ends(runner, within: Self.closeGrace)
        if !ended { logger.warning("the PostgreSQL pool did not end within \(Self.closeGrace) of its cancellation; left to the process's exit") }
    }

    /// How long ``close()`` waits for the pool to end.
    static let closeGrace: Duration = .seconds(10)

    /// Whether `task` ended within `limit` (waiting for a task's value cannot itself be cancelled, so the wait races a timer).
    static func ends(_ task: Task<Void, Never>, within limit: Duration) async -> Bool {
        (try? await Deadline.run(within: limit, timeout: { CancellationError() }) { await task.value }) != nil
    }

    // MARK: RegionStore

    package func seed(hosts: [(id: String, address: String, capacity: Int?)], policyName: String, policyDigest: String,
                      now: Date) async throws(RegionError) {
        try await transaction { c in
            try await self.lockHostRows(c, hosts.map(\.id))
            for h in hosts {
                let inserted = try await c.query("""
                    INSERT INTO host (region, id, address, capacity, policy_name, policy_digest, updated_at)
                    VALUES (\(self.region), \(h.id), \(h.address), \(h.capacity), \(policyName), \(policyDigest), \(now.timeIntervalSince1970))
                    ON CONFLICT (region, id) DO NOTHING RETURNING id
                    """, logger: self.logger)
                if try await Self.first(inserted) != nil {
                    try await self.audit(c, now, host: h.id, kind: "host-added", old: nil, new: HostState.unknown.rawValue, code: nil, detail: h.address)
                } else {
                    // policy_digest stays the one the row's latest verdict was judged under.
                    try await c.query("""
                        UPDATE host SET address = \(h.address), capacity = \(h.capacity), policy_name = \(policyName)
                        WHERE region = \(self.region) AND id = \(h.id)
                        """, logger: self.logger)
                }
            }
        }
    }

    package func rows() async throws(RegionError) -> [IVTRow] {
        try await run {
            var rows: [IVTRow] = []
            let result = try await self.client.query("""
                SELECT \(unescaped: Self.rowColumns) FROM host WHERE region = \(self.region) ORDER BY id
                """, logger: self.logger)
            for try await r in result { rows.append(try Self.decodeRow(r)) }
            return rows
        }
    }

    package func row(_ host: String) async throws(RegionError) -> IVTRow? {
        try await run {
            let result = try await self.client.query("""
                SELECT \(unescaped: Self.rowColumns) FROM host WHERE region = \(self.region) AND id = \(host)
                """, logger: self.logger)
            return try await Self.first(result).map(Self.decodeRow)
        }
    }

    package func transition(_ verdict: HostVerdict, host: String, judgedUnder policyDigest: String?, judged: JudgedEvidence?,
                            now: Date) async throws(RegionError) -> IVTStore.Applied? {
        // Group commit, as on SQLite: the verdicts that arrive while a transaction of verdicts is written go together
        // into the next one, in the same four round trips (``transitions(_:_:fencedBy:)``). Each is applied as on
        // its own (one verdict per host in a group); a row that does not decode fails its verdict alone.
        try await groupCommit.submit(TransitionRequest(verdict: verdict, host: host, policyDigest: policyDigest, judged: judged, now: now)) {
            requests throws(RegionError) in
            try await self.transaction(checkingFence: false) { c in try await self.transitions(c, requests, fencedBy: self.fence) }
        }
    }

    package func audit(host: String?, kind: String, code: String?, detail: String?, now: Date) async throws(RegionError) {
        try await transaction { c in
            _ = try await self.audit(c, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail)
        }
    }

    package func audit(host: String?, kind: String, code: String?, detail: String?, evacuation: EvacuationFields,
                       now: Date) async throws(RegionError) {
        try await transaction { c in
            _ = try await self.audit(c, now, host: host, kind: kind, old: nil, new: nil, code: code, detail: detail, evacuation: evacuation)
        }
    }

    package func events(since seq: Int64, host: String?, limit: Int) async throws(RegionError) -> [IVTEvent] {
        try await run {
            let columns = "seq, at, host, kind, old_state, new_state, code, detail, count, last_at, vm, source, target, outcome"
            let result = if let host {
                try await self.client.query("""
                    SELECT \(unescaped: columns) FROM event WHERE region = \(self.region) AND host = \(host) AND seq > \(seq) ORDER BY seq LIMIT \(limit)
                    """, logger: self.logger)
            } else {
                try await self.client.query("""
                    SELECT \(unescaped: columns) FROM event WHERE region = \(self.region) AND seq > \(seq) ORDER BY seq LIMIT \(limit)
                    """, logger: self.logger)
            }
            var events: [IVTEvent] = []
            for try await r in result {
                let c = r.makeRandomAccess()
                events.append(IVTEvent(
                    seq: try c[0].decode(Int64.self), at: Date(timeIntervalSince1970: try c[1].decode(Double.self)),
                    host: try c[2].decode(String?.self), kind: try c[3].decode(String.self),
                    oldState: try c[4].decode(String?.self), newState: try c[5].decode(String?.self),
                    code: try c[6].decode(String?.self), detail: try c[7].decode(String?.self),
                    count: try c[8].decode(Int.self), lastAt: try c[9].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
                    evacuation: EvacuationFields.stored(vm: try c[10].decode(String?.self), source: try c[11].decode(String?.self),
                                                        target: try c[12].decode(String?.self), outcome: try c[13].decode(String?.self))))
            }
            return events
        }
    }

    // MARK: Plumbing

    /// Appends one audit event of this region, announces the change, and returns its number: one statement
    /// (``PostgresQuery/StringInterpolation/appendInterpolation(auditing:region:)``).
    @discardableResult
    func audit(_ c: PostgresConnection, _ now: Date, host: String?, kind: String, old: String?, new: String?, code: String?,
               detail: String?, evacuation: EvacuationFields? = nil) async throws -> Int64 {
        let entry = AuditEntry(host: host, at: now, kind: kind, old: old, new: new, code: code, detail: detail, evacuation: evacuation)
        let result = try await c.query("""
            WITH \(auditing: [entry], region: region)
            SELECT seq, \(announcing: .rows, of: region) FROM audited
            """, logger: logger)
        guard let r = try await Self.first(result) else { throw RegionError(.storeFailed, "table event: no sequence number returned") }
        return try r.makeRandomAccess()[0].decode(Int64.self)
    }

    /// The host columns ``decodeRow(_:)`` reads, by position.
    static let rowColumns = "id, address, state, ak_name, ek_certificate, enrolled_at, revoked, last_quote_at, tpm_clock, reset_count, " +
        "restart_count, last_pcr_digest, measured_by, failure_code, failure_detail, policy_name, policy_digest, vms, capacity, version, " +
        "updated_at, boot_log_pending, verdict_state, reboot_accepted"
    /// How many columns ``rowColumns`` names (the index of the first column a statement returns after them).
    static let rowColumnCount = rowColumns.split(separator: ",").count

    static func decodeRow(_ row: PostgresRow) throws -> IVTRow {
        let r = row.makeRandomAccess()
        let id = try r[0].decode(String.self)
        func state(_ index: Int, _ column: String) throws -> HostState? {
            guard let text = try r[index].decode(String?.self) else { return nil }
            guard let s = HostState(rawValue: text) else {
                throw RegionError(.storeCorrupt, "table host, row \(id), column \(column): '\(text)' is not a state")
            }
            return s
        }
        guard let hostState = try state(2, "state") else { throw RegionError(.storeCorrupt, "table host, row \(id), column state: null") }
        let vmsText = try r[17].decode(String.self)
        return IVTRow(
            host: id, address: try r[1].decode(String.self), state: hostState,
            akName: try r[3].decode(String?.self), ekCertificate: try r[4].decode(String?.self),
            enrolledAt: try r[5].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            revoked: try r[6].decode(Bool.self),
            lastQuoteAt: try r[7].decode(Double?.self).map(Date.init(timeIntervalSince1970:)),
            tpmClock: try r[8].decode(Int64?.self).map { UInt64(bitPattern: $0) },
            resetCount: try r[9].decode(Int64?.self).flatMap { UInt32(exactly: $0) },
            restartCount: try r[10].decode(Int64?.self).flatMap { UInt32(exactly: $0) },
            lastPCRDigest: try r[11].decode(String?.self), measuredBy: try r[12].decode(String?.self),
            failureCode: try r[13].decode(String?.self), failureDetail: try r[14].decode(String?.self),
            policyName: try r[15].decode(String?.self), policyDigest: try r[16].decode(String?.self),
            vms: vmsText.isEmpty ? [] : vmsText.split(separator: ",").map(String.init),
            capacity: try r[18].decode(Int?.self), version: try r[19].decode(Int.self),
            updatedAt: Date(timeIntervalSince1970: try r[20].decode(Double.self)),
            bootLogPending: try r[21].decode(Bool.self),
            verdictState: try state(22, "verdict_state"), rebootAcceptance: try r[23].decode(String?.self))
    }

    /// Locks this region's rows of `ids` (those that exist) `FOR UPDATE` until the transaction ends, in the order of
    /// their ids as PostgreSQL sorts them: the order a group of verdicts locks its hosts' rows in. A transaction that
    /// writes several host rows takes them all here first, so it never holds one row a group waits for while it
    /// waits for another the group holds (a cycle PostgreSQL ends by failing one of the two).
    func lockHostRows(_ c: PostgresConnection, _ ids: [String]) async throws {
        let locked = try await c.query("SELECT id FROM host WHERE region = \(region) AND id = ANY(\(ids)) ORDER BY id FOR UPDATE",
                                       logger: logger)
        for try await _ in locked {}
    }

    static func first<Rows: AsyncSequence>(_ rows: Rows) async throws -> Rows.Element? {
        for try await r in rows { return r }
        return nil
    }

    /// Runs `body` in one transaction on one of the pool's connections, first checking the fence if the store has one
    /// (unless `checkingFence` is false: `body`'s first statement checks it); its errors become coded ones.
    func transaction<T: Sendable>(checkingFence: Bool = true,
                                  _ body: @Sendable @escaping (PostgresConnection) async throws -> T) async throws(RegionError) -> T {
        try await run {
            try await self.client.withTransaction(logger: self.logger) { c in
                if checkingFence, let fence = self.fence { try await fence.check(on: c, logger: self.logger) }
                return try await body(c)
            }
        }
    }

    /// Runs one operation within ``limits``' operation bound; its errors become coded ones, and no answer in time
    /// is `store.unreachable`.
    func run<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws(RegionError) -> T {
        do { return try await bounded(body) } catch { throw coded(error) }
    }

    /// `body` within ``limits``' operation bound, its errors as they are; no answer in time is `store.unreachable`.
    func bounded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let (url, limit) = (url, limits.operation)
        return try await Deadline.run(within: limit, timeout: {
            RegionError(.storeUnreachable, "store \(url): no answer within \(limit)",
                        hint: "check that PostgreSQL at \(url.host):\(url.port) is running and reachable from this machine")
        }, body)
    }

    /// A failed operation as a coded error: the store's own errors as they are, a lost or refused connection as
    /// `store.unreachable`, anything else as `rctcb.store-failed` with the server's message.
    func coded(_ error: any Error) -> RegionError {
        if let e = error as? RegionError { return e }
        if let t = error as? PostgresTransactionError {
            if let e = t.closureError { return coded(e) }
            if let e = t.beginError ?? t.commitError { return coded(e) }
        }
        if let p = error as? PSQLError, [.connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed].contains(p.code) {
            return RegionError(.storeUnreachable, "store \(url): connection lost: \(Self.describe(error))",
                               hint: "check that PostgreSQL at \(url.host):\(url.port) is running; the store reconnects on the next operation")
        }
        if String(describing: type(of: error)).contains("ConnectionPoolError") {
            return RegionError(.storeUnreachable, "store \(url): no connection: \(Self.describe(error))",
                               hint: "check that PostgreSQL at \(url.host):\(url.port) is running")
        }
        return RegionError(.storeFailed, "store \(url): \(Self.describe(error))")
    }

    /// An error's text with the server's message (PSQLError's own description hides it).
    static func describe(_ error: any Error) -> String {
        guard let p = error as? PSQLError else { return "\(error)" }
        var parts = [p.code.description]
        if let m = p.serverInfo?[.message] { parts.append(m) }
        if let d = p.serverInfo?[.detail] { parts.append(d) }
        if let u = p.underlying { parts.append("\(u)") }
        return parts.joined(separator: ": ")
    }
}
