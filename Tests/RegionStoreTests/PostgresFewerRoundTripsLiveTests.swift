import Attestation
import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing
import TPMWire

/// The PostgreSQL store's leader writes of an attestation in fewer statements: the transition's fence in its first
/// statement and everything it writes in one more, a ring nonce recorded or spent in one statement that carries the
/// fence. What the store promised stays: a stale, expired or absent lease writes nothing on each of these paths, a
/// nonce is spent once however many ask at once, the evidence kept is exactly what SQLite keeps, and a verdict's two
/// audit events are numbered in order with the evidence pointing at the last.
@Suite("PostgreSQL store: leader writes in fewer round trips", .timeLimit(.minutes(20)))
struct PostgresFewerRoundTripsLiveTests {
    static let bundle = EvidenceBundle(hostId: "host-a", akPublic: [1], akName: [2], nonce: [3], attest: [4], signature: [5],
                                       selection: PCRSelectionList([]), pcrValues: [], agentTime: t0)

    /// What a refused write must leave as it was: the rows, the audit trail, the evidence, the nonces.
    struct Snapshot: Equatable {
        var rows: [IVTRow]
        var events: [Int64]
        var evidence: [Int64]
    }

    static func snapshot(_ s: PostgresRegionStore) async throws -> Snapshot {
        Snapshot(rows: try await s.rows(), events: try await s.events(since: 0, host: nil, limit: 1000).map(\.seq),
                 evidence: try await s.evidence(host: "host-a", bundles: false).map(\.seq))
    }

    /// Each changed path of a leader whose lease another holder took (epoch 2), whose lease expired, and that writes
    /// for a region without any lease: `store.fenced` with the reason, and nothing changed — the row, the events, the
    /// evidence, the nonces (a nonce the stale leader tried to spend is still open; one it tried to record is not).
    @Test func aLeaderWithoutTheLeaseWritesNothingOnAnyPath() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r", "lease-less"]) { stores in
                let (a, b, leaseLess) = (stores[0], stores[1], stores[2])
                try await seedTwoHosts(a)
                try await seedTwoHosts(leaseLess)
                let first = try #require(try await a.acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let stale = try a.leading(first)
                // While it leads, every path writes.
                try await stale.recordNonce("aa01", reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(60), now: t0)
                try await stale.recordNonce("aa02", reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(60), now: t0)
                #expect(try await stale.spendNonce("aa02", reporter: "host-a", target: "host-b", now: t0) == .spent)
                #expect(try await stale.transition(.trusted(facts(1), measuredBy: "host-b"), host: "host-a", judgedUnder: "11",
                                                   judged: JudgedEvidence(Self.bundle), now: t0)?.row.state == .trusted)
                // A host not in the IVT is nil for a leader, not a refusal.
                #expect(try await stale.transition(.unreachable(detail: "x"), host: "nobody", judgedUnder: nil, judged: nil, now: t0) == nil)

                try await a.releaseLease(first)
                let second = try #require(try await b.acquireLease(holder: "rctcb-b", for: .seconds(600)))
                #expect(second.epoch == 2)
                try await Self.expectRefusedEverywhere(stale, reading: b, reason: "rctcb-b leads the region since epoch 2")
                // The nonce the stale leader could not spend is still open, for the leader.
                #expect(try await b.leading(second).spendNonce("aa01", reporter: "host-a", target: "host-b", now: t0) == .spent)

                // No lease at all in the region.
                let none = try leaseLess.leading(LeaderLease(region: "lease-less", holder: "rctcb-a", epoch: 1))
                try await Self.expectRefusedEverywhere(none, reading: leaseLess, reason: "the region has no leader lease")
            }
        }
    }

    /// The attestation's statements are prepared once per connection: with every statement logged by the server,
    /// each path runs prepared (the server parsed it fewer times than it ran it, under its statement's name) while
    /// the store leads, and once another holder took the lease, the same prepared statements on the same connections
    /// are refused and change nothing: the lease is a parameter, checked as it is when the statement runs.
    @Test func preparedStatementsStillCheckTheLeaseTheyRunUnder() async throws {
        try await PostgresCluster.with { cluster in
            try psql(cluster.url, "ALTER SYSTEM SET log_min_duration_statement = 0")
            try psql(cluster.url, "SELECT pg_reload_conf()")
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                let (a, b) = (stores[0], stores[1])
                try await seedTwoHosts(a)
                let first = try #require(try await a.acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let stale = try a.leading(first)
                try await stale.recordNonce("aa01", reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(60), now: t0)
                for i in 1...8 {
                    let nonce = String(format: "ab%02x", i)
                    try await stale.recordNonce(nonce, reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(60), now: t0)
                    #expect(try await stale.spendNonce(nonce, reporter: "host-a", target: "host-b", now: t0) == .spent)
                    #expect(try await stale.transition(.trusted(facts(i), measuredBy: "host-b"), host: "host-a", judgedUnder: "11",
                                                       judged: JudgedEvidence(Self.bundle), now: t0.addingTimeInterval(Double(i)))?.row.state == .trusted)
                }
                #expect(stale.quietGroupsWritten >= 7)
                let log = cluster.log
                for name in ["RecordNonces", "SpendNonces", "LockedRowsFenced", "QuietGroup"] {
                    let (parsed, ran) = (log.components(separatedBy: "parse smig_\(name):").count - 1,
                                         log.components(separatedBy: "execute smig_\(name):").count - 1)
                    #expect(parsed >= 1 && ran >= 7 && parsed < ran, "\(name): parsed \(parsed) times, ran \(ran) times")
                }

                try await a.releaseLease(first)
                let second = try #require(try await b.acquireLease(holder: "rctcb-b", for: .seconds(600)))
                try await Self.expectRefusedEverywhere(stale, reading: b, reason: "rctcb-b leads the region since epoch \(second.epoch)")
                #expect(try await b.leading(second).spendNonce("aa01", reporter: "host-a", target: "host-b", now: t0) == .spent)
            }
        }
    }

    @Test func anExpiredLeaseWritesNothingOnAnyPath() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r"]) { stores in
                let a = stores[0]
                try await seedTwoHosts(a)
                let lease = try #require(try await a.acquireLease(holder: "rctcb-a", for: .milliseconds(200)))
                // Expired by the database's clock, and nobody took it over.
                try await waitUntilAsync("the lease to expire", seconds: 60) { try await a.currentLease()?.live == false }
                try await Self.expectRefusedEverywhere(try a.leading(lease), reading: a, reason: "expired")
            }
        }
    }

    /// `fenced` tries a transition with evidence, of a host in the IVT and of one not in it, a nonce recorded and
    /// the nonce `aa01` spent; each is `store.fenced` with `reason`, and `reader` sees nothing changed.
    static func expectRefusedEverywhere(_ fenced: PostgresRegionStore, reading reader: PostgresRegionStore, reason: String) async throws {
        let before = try await snapshot(reader)
        let nonceBefore = try await reader.spendNonceProbe("aa01")
        for path in 0..<4 {
            let e = await #expect(throws: RegionError.self) {
                switch path {
                case 0: _ = try await fenced.transition(.unreachable(detail: "silent"), host: "host-a", judgedUnder: nil,
                                                        judged: JudgedEvidence(bundle), now: t0.addingTimeInterval(9))
                case 1: _ = try await fenced.transition(.unreachable(detail: "silent"), host: "nobody", judgedUnder: nil, judged: nil, now: t0)
                case 2: try await fenced.recordNonce("bb01", reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(60), now: t0)
                default: _ = try await fenced.spendNonce("aa01", reporter: "host-a", target: "host-b", now: t0)
                }
            }
            #expect(e?.code == .storeFenced, "path \(path)")
            #expect(e?.reason.contains(reason) == true, "path \(path): \(e?.reason ?? "")")
        }
        #expect(try await snapshot(reader) == before)
        #expect(try await reader.spendNonceProbe("aa01") == nonceBefore)
        #expect(try await reader.spendNonceProbe("bb01") == .unknown)
    }

    /// One nonce, many spends at once from two connection pools of the leader: exactly one is `spent`, every other
    /// finds it gone. Several rounds, so the spends really overlap.
    @Test func aNonceIsSpentOnceHoweverManyAskAtOnce() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                let lease = try #require(try await stores[0].acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let views = try stores.map { try $0.leading(lease) }
                for round in 0..<5 {
                    let nonce = String(format: "cc%02x", round)
                    try await views[0].recordNonce(nonce, reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(60), now: t0)
                    let answers = try await withThrowingTaskGroup(of: NonceSpend.self) { group in
                        for i in 0..<16 {
                            group.addTask { try await views[i % 2].spendNonce(nonce, reporter: "host-a", target: "host-b", now: t0) }
                        }
                        return try await group.reduce(into: [NonceSpend]()) { $0.append($1) }
                    }
                    #expect(answers.filter { $0 == .spent }.count == 1, "round \(round)")
                    #expect(answers.filter { $0 == .unknown }.count == 15, "round \(round)")
                }
            }
        }
    }

    /// Many nonces at once: recorded together in fewer statements than nonces, each spent once when two ask for it at
    /// once (from two connection pools); a stale leader's burst of records and spends is refused throughout and
    /// changes nothing.
    @Test func manyNoncesAtOnceAreRecordedAndSpentOnceEach() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                let lease = try #require(try await stores[0].acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let views = try stores.map { try $0.leading(lease) }
                // Three reporters' sixteen each: as many as one reporter may hold open of a kind, so none is dropped.
                let nonces = (0..<48).map { String(format: "dd%04x", $0) }
                let reporter: @Sendable (String) -> String = { n in "host-\(Int(n.suffix(4), radix: 16)! % 3)" }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for n in nonces {
                        group.addTask { try await views[0].recordNonce(n, reporter: reporter(n), target: "host-b", expires: t0.addingTimeInterval(60), now: t0) }
                    }
                    try await group.waitForAll()
                }
                let recorded = views[0].nonceStatements.recorded
                #expect(recorded.nonces == nonces.count && recorded.statements < recorded.nonces)
                let answers = try await withThrowingTaskGroup(of: (String, NonceSpend).self) { group in
                    for n in nonces {
                        for v in views {
                            group.addTask { (n, try await v.spendNonce(n, reporter: reporter(n), target: "host-b", now: t0.addingTimeInterval(1))) }
                        }
                    }
                    return try await group.reduce(into: [String: [NonceSpend]]()) { $0[$1.0, default: []].append($1.1) }
                }
                for n in nonces { #expect(answers[n]?.sorted { "\($0)" < "\($1)" } == [.spent, .unknown], "\(n)") }
                let spent = views.map(\.nonceStatements.spent)
                #expect(spent.map(\.nonces).reduce(0, +) == 2 * nonces.count)
                #expect(spent.map(\.statements).reduce(0, +) < 2 * nonces.count)

                // A stale leader's burst: every record and spend refused, the open nonce still open, nothing added.
                try await views[0].recordNonce("ee00", reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(60), now: t0)
                try await stores[0].releaseLease(lease)
                _ = try #require(try await stores[1].acquireLease(holder: "rctcb-b", for: .seconds(600)))
                let codes = await withTaskGroup(of: RegionError.Code?.self) { group in
                    for i in 0..<16 {
                        group.addTask {
                            do throws(RegionError) {
                                if i % 2 == 0 {
                                    try await views[i % 4 / 2].recordNonce(String(format: "ef%02x", i), reporter: "host-a", target: "host-b",
                                                                        expires: t0.addingTimeInterval(60), now: t0)
                                } else {
                                    _ = try await views[i % 4 / 2].spendNonce("ee00", reporter: "host-a", target: "host-b", now: t0)
                                }
                                return nil
                            } catch { return error.code }
                        }
                    }
                    return await group.reduce(into: [RegionError.Code?]()) { $0.append($1) }
                }
                #expect(codes.count == 16 && codes.allSatisfy { $0 == .storeFenced })
                #expect(try await stores[1].spendNonceProbe("ee00") == .issuedFor(reporter: "host-a", target: "host-b"))
                for i in stride(from: 0, to: 16, by: 2) { #expect(try await stores[1].spendNonceProbe(String(format: "ef%02x", i)) == .unknown) }
            }
        }
    }

    /// A long history of verdicts on one host, state changes at irregular steps (more than ``EvidenceRetention/perHost``
    /// of them), kept by PostgreSQL and by SQLite: after every verdict both keep the same evidence (time, verdict,
    /// whether it changed the state), within the bound, and PostgreSQL's newest row points at the verdict's event.
    @Test func evidenceKeptIsSQLitesAfterEveryVerdict() async throws {
        try await Backend.sqlite.withStores { sqlite in
            try await Backend.postgresql.withStores { postgresql in
                let (s, p) = (sqlite[0], postgresql[0])
                try await seedTwoHosts(s)
                try await seedTwoHosts(p)
                var lcg: UInt64 = 7
                var changes = 0
                for i in 1...(3 * EvidenceRetention.perHost + 10) {
                    lcg = lcg &* 6364136223846793005 &+ 1442695040888963407
                    let verdict: HostVerdict = lcg >> 63 == 0 ? .trusted(facts(i), measuredBy: "host-b") : .unreachable(detail: "silent \(i)")
                    let now = t0.addingTimeInterval(Double(i))
                    let fromSQLite = try #require(try await s.transition(verdict, host: "host-a", judgedUnder: "11",
                                                                        judged: JudgedEvidence(Self.bundle), now: now))
                    let fromPostgres = try #require(try await p.transition(verdict, host: "host-a", judgedUnder: "11",
                                                                           judged: JudgedEvidence(Self.bundle), now: now))
                    #expect(fromPostgres.row == fromSQLite.row && fromPostgres.old == fromSQLite.old)
                    if fromPostgres.row.state != fromPostgres.old { changes += 1 }
                    let keptS = try await s.evidence(host: "host-a", bundles: false)
                    let keptP = try await p.evidence(host: "host-a", bundles: false)
                    #expect(keptP.map(\.at) == keptS.map(\.at), "after verdict \(i)")
                    #expect(keptP.map(\.stateChanged) == keptS.map(\.stateChanged) && keptP.map(\.verdict) == keptS.map(\.verdict))
                    #expect(keptP.count <= EvidenceRetention.perHost)
                    #expect(keptP.first?.at == now && keptP.first?.eventSeq == fromPostgres.eventSeq)
                }
                #expect(changes > EvidenceRetention.perHost)
                #expect(try await p.evidence(host: "host-a", bundles: false).count == EvidenceRetention.perHost)
            }
        }
    }

    /// A verdict that writes two audit events (the state change and `reboot-accepted`) writes them in that order,
    /// numbered one after the other, as SQLite does; the evidence kept with it points at the second, and the row the
    /// transition returns is the row in the table.
    @Test(arguments: Backend.allCases)
    func twoEventsOfOneVerdictAreNumberedInOrder(_ backend: Backend) async throws {
        try await backend.withStores { stores in
            let s = stores[0]
            try await seedTwoHosts(s)
            _ = try await s.transition(.rebooted(facts(1), measuredBy: "rc-tcb", code: "boot.log-missing", detail: "reset"), host: "host-a",
                                       judgedUnder: nil, judged: nil, now: t0.addingTimeInterval(1))
            _ = try await s.acceptReboot(host: "host-a", reason: "firmware update", now: t0.addingTimeInterval(2))
            let before = try await s.lastEventSeq()
            let applied = try #require(try await s.transition(.trusted(facts(3), measuredBy: "host-b"), host: "host-a", judgedUnder: "11",
                                                              judged: JudgedEvidence(Self.bundle), now: t0.addingTimeInterval(3)))
            let written = try await s.events(since: before, host: nil, limit: 10)
            #expect(written.map(\.kind) == ["state", "reboot-accepted"])
            #expect(written.map(\.seq) == [before + 1, before + 2] && applied.eventSeq == before + 2)
            #expect(written.first?.oldState == "rebooted" && written.first?.newState == "trusted")
            #expect(try await s.evidence(host: "host-a", bundles: false).first?.eventSeq == before + 2)
            #expect(try await s.row("host-a") == applied.row)
        }
    }
}

extension PostgresRegionStore {
    /// Whether `nonce` (reporter host-a, target host-b) is open, without spending it: another pair's spend of it
    /// reads it and leaves it (`issuedFor`), an unknown one is `unknown`.
    func spendNonceProbe(_ nonce: String) async throws -> NonceSpend {
        try await spendNonce(nonce, reporter: "probe", target: "probe", now: t0)
    }
}
