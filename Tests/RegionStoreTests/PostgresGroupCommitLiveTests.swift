import Attestation
import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing
import TPMWire

/// Group commit on PostgreSQL: verdicts that arrive together are written in one transaction, and each is what it
/// would be on its own — the same rows, audit events and evidence as SQLite writes for the same verdicts; several
/// verdicts of one host at once lose no update; a stale leader's group writes nothing; a row that does not decode
/// fails its own verdict alone.
@Suite("PostgreSQL store: group commit of verdicts", .timeLimit(.minutes(20)))
struct PostgresGroupCommitLiveTests {
    static let hosts = (0..<24).map { String(format: "host-%02d", $0) }
    static let bundle = EvidenceBundle(hostId: "host-00", akPublic: [1], akName: [2], nonce: [3], attest: [4], signature: [5],
                                       selection: PCRSelectionList([]), pcrValues: [], agentTime: t0)

    static func seed(_ s: any RegionStore) async throws {
        try await s.seed(hosts: hosts.map { ($0, "127.0.0.1", 1) }, policyName: "test", policyDigest: "00", now: t0)
    }

    /// The verdict of round `round` for host number `i`: a mix of state changes and repeats.
    static func verdict(_ round: Int, _ i: Int) -> HostVerdict {
        switch (round + i) % 4 {
        case 0, 1: .trusted(facts(round * 100 + i), measuredBy: "host-b")
        case 2: .unreachable(detail: "silent in round \(round)")
        default: .rebooted(facts(round * 100 + i), measuredBy: "rc-tcb", code: "tpm.reset", detail: "reset in round \(round)")
        }
    }

    /// Every round, all the hosts' verdicts at once (each round after the one before has been answered).
    static func rounds(_ s: any RegionStore, _ count: Int) async throws -> [[IVTStore.Applied?]] {
        var all: [[IVTStore.Applied?]] = []
        for round in 0..<count {
            let now = t0.addingTimeInterval(Double(round + 1))
            all.append(try await withThrowingTaskGroup(of: (Int, IVTStore.Applied?).self) { group in
                for (i, h) in hosts.enumerated() {
                    group.addTask { (i, try await s.transition(verdict(round, i), host: h, judgedUnder: "11", judged: JudgedEvidence(bundle), now: now)) }
                }
                var answers = [IVTStore.Applied?](repeating: nil, count: hosts.count)
                for try await (i, a) in group { answers[i] = a }
                return answers
            })
        }
        return all
    }

    @Test func aBurstOfVerdictsIsWrittenAsSQLiteWritesEachAlone() async throws {
        try await Backend.sqlite.withStores { sqlite in
            try await Backend.postgresql.withStores { postgresql in
                let (s, p) = (sqlite[0], try #require(postgresql[0] as? PostgresRegionStore))
                try await Self.seed(s)
                try await Self.seed(p)
                let before = p.groupCommitWritten
                let fromS = try await Self.rounds(s, 8)
                let fromP = try await Self.rounds(p, 8)
                let after = p.groupCommitWritten
                // Written in groups: fewer transactions than verdicts.
                #expect(after.verdicts - before.verdicts == 8 * Self.hosts.count)
                #expect(after.transactions - before.transactions < after.verdicts - before.verdicts)

                for (roundS, roundP) in zip(fromS, fromP) {
                    #expect(roundP.map { $0?.row } == roundS.map { $0?.row })
                    #expect(roundP.map { $0?.old } == roundS.map { $0?.old })
                    #expect(roundP.map { $0?.eventSeq == nil } == roundS.map { $0?.eventSeq == nil })
                }
                let trail = try await p.events(since: 0, host: nil, limit: 10_000)
                #expect(Set(trail.map(\.seq)).count == trail.count)
                for h in Self.hosts {
                    let eventsS = try await s.events(since: 0, host: h, limit: 1000)
                    let eventsP = try await p.events(since: 0, host: h, limit: 1000)
                    #expect(eventsP.map(\.kind) == eventsS.map(\.kind) && eventsP.map(\.newState) == eventsS.map(\.newState), "\(h)")
                    let keptS = try await s.evidence(host: h, bundles: false)
                    let keptP = try await p.evidence(host: h, bundles: false)
                    #expect(keptP.map(\.at) == keptS.map(\.at) && keptP.map(\.stateChanged) == keptS.map(\.stateChanged), "\(h)")
                    // Each verdict's evidence points at that host's own event of that verdict.
                    let seqs = Set(eventsP.map(\.seq))
                    #expect(keptP.compactMap(\.eventSeq).allSatisfy { seqs.contains($0) }, "\(h)")
                    #expect(try await p.row(h) == fromP.last?[Self.hosts.firstIndex(of: h)!]?.row)
                }
                for (round, answers) in fromP.enumerated() {
                    for a in answers { if let seq = a?.eventSeq { #expect(trail.first { $0.seq == seq }?.host == a?.row.host, "round \(round)") } }
                }
            }
        }
    }

    /// Groups whose verdicts change no state (the steady state: repeats of `trusted` with their evidence, of
    /// `unreachable` without) are written by the statement of fixed text, and leave what SQLite leaves for the same
    /// verdicts: the rows, no audit event, the evidence kept after each round (more rounds than the retention keeps),
    /// its bundles byte for byte.
    @Test func groupsThatWriteNoAuditEventAreWrittenAsSQLiteWritesThem() async throws {
        try await Backend.sqlite.withStores { sqlite in
            try await Backend.postgresql.withStores { postgresql in
                let (s, p) = (sqlite[0], try #require(postgresql[0] as? PostgresRegionStore))
                try await Self.seed(s)
                try await Self.seed(p)
                func verdict(_ round: Int, _ i: Int) -> HostVerdict {
                    i % 3 == 2 ? .unreachable(detail: "silent, \"quoted\" \\ é\u{1F}") : .trusted(facts(round * 100 + i), measuredBy: "host-b")
                }
                var bundle = Self.bundle
                for round in 0..<(EvidenceRetention.recent + 3) {
                    let now = t0.addingTimeInterval(Double(round) + 0.25)
                    bundle.nonce = "round \(round)"
                    let judged = JudgedEvidence(bundle)
                    for store in [s, p] as [any RegionStore] {
                        let answers = try await withThrowingTaskGroup(of: (Int, IVTStore.Applied?).self) { group in
                            for (i, h) in Self.hosts.enumerated() {
                                group.addTask {
                                    (i, try await store.transition(verdict(round, i), host: h, judgedUnder: "11",
                                                                   judged: i % 3 == 2 ? nil : judged, now: now))
                                }
                            }
                            var all = [IVTStore.Applied?](repeating: nil, count: Self.hosts.count)
                            for try await (i, a) in group { all[i] = a }
                            return all
                        }
                        #expect(answers.allSatisfy { $0 != nil }, "round \(round)")
                    }
                    for h in Self.hosts {
                        #expect(try await p.row(h) == s.row(h), "round \(round), \(h)")
                        let (keptS, keptP) = (try await s.evidence(host: h, bundles: true), try await p.evidence(host: h, bundles: true))
                        #expect(keptP.map(\.at) == keptS.map(\.at) && keptP.map(\.stateChanged) == keptS.map(\.stateChanged), "round \(round), \(h)")
                        #expect(keptP.map(\.bundle) == keptS.map(\.bundle) && keptP.map(\.code) == keptS.map(\.code), "round \(round), \(h)")
                    }
                }
                for h in Self.hosts {
                    let (eventsS, eventsP) = (try await s.events(since: 0, host: h, limit: 1000), try await p.events(since: 0, host: h, limit: 1000))
                    #expect(eventsP.map(\.kind) == eventsS.map(\.kind) && eventsP.map(\.newState) == eventsS.map(\.newState), "\(h)")
                }
                // The first round changed every row's state (written with audit events); the others changed none.
                #expect(p.quietGroupsWritten >= EvidenceRetention.recent + 2)
            }
        }
    }

    /// Verdicts of one host at once go into successive groups: each is applied to the row the one before wrote.
    /// A host's evidence can put any character into a verdict's detail: a measurement's name in its log may hold
    /// `\u0000`, which the JSON reader decodes to U+0000 and PostgreSQL's text cannot hold. Such a verdict is
    /// written with U+FFFD in place of the NUL on both stores (SQLite kept the text only up to the NUL), and the other
    /// hosts' verdicts of its group are written too (on PostgreSQL the whole group failed).
    @Test func aNULInOneHostsVerdictFailsNoVerdictOfItsGroup() async throws {
        for backend in [Backend.sqlite, Backend.postgresql] {
            try await backend.withStores { stores in
                let s = stores[0]
                try await Self.seed(s)
                let answers = try await withThrowingTaskGroup(of: (String, IVTStore.Applied?).self) { group in
                    for (i, h) in Self.hosts.enumerated() {
                        let v: HostVerdict = i == 0
                            ? .untrusted(facts(i), measuredBy: "rc-tcb", code: "golden.unknown-measurement", detail: "measurement 'a\u{0}b' is not in the policy")
                            : .trusted(facts(i), measuredBy: "host-b")
                        group.addTask { (h, try await s.transition(v, host: h, judgedUnder: "11", judged: JudgedEvidence(Self.bundle), now: t0)) }
                    }
                    var all: [String: IVTStore.Applied?] = [:]
                    for try await (h, a) in group { all[h] = a }
                    return all
                }
                #expect(answers.count == Self.hosts.count && answers.values.allSatisfy { $0 != nil }, "\(backend)")
                let clean = "measurement 'a\u{FFFD}b' is not in the policy"
                let row = try #require(try await s.rows().first { $0.host == "host-00" })
                #expect(row.state == .untrusted && row.failureDetail == clean, "\(backend)")
                #expect(try await s.events(since: 0, host: "host-00", limit: 100).last?.detail == clean, "\(backend)")
                #expect(try await s.evidence(host: "host-00", bundles: false).first?.detail == clean, "\(backend)")
                #expect(try await s.rows().filter { $0.state == .trusted }.count == Self.hosts.count - 1, "\(backend)")
                // A refusal's detail quotes what was refused: the same rule.
                try await s.auditAggregated(host: "host-01", kind: "report-refused", code: "quote.bad\u{0}", detail: "from host-b: x\u{0}y",
                                            window: 60, now: t0)
                let refusal = try #require(try await s.events(since: 0, host: "host-01", limit: 100).last)
                #expect(refusal.kind == "report-refused" && refusal.code == "quote.bad\u{FFFD}" && refusal.detail == "from host-b: x\u{FFFD}y", "\(backend)")
            }
        }
    }

    @Test func verdictsOfOneHostAtOnceLoseNoUpdate() async throws {
        try await Backend.postgresql.withStores { stores in
            let s = stores[0]
            try await Self.seed(s)
            let n = 12
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<n {
                    group.addTask {
                        _ = try await s.transition(Self.verdict(i, 0), host: "host-00", judgedUnder: nil, judged: JudgedEvidence(Self.bundle),
                                                   now: t0.addingTimeInterval(Double(i)))
                    }
                    group.addTask {
                        _ = try await s.transition(Self.verdict(i, 1), host: "host-01", judgedUnder: nil, judged: nil, now: t0)
                    }
                }
                try await group.waitForAll()
            }
            for h in ["host-00", "host-01"] {
                #expect(try await s.row(h)?.version == n)
                let changes = try await s.events(since: 0, host: h, limit: 1000).filter { $0.kind == "state" }
                for (before, after) in zip(changes, changes.dropFirst()) { #expect(after.oldState == before.newState) }
                #expect(changes.last?.newState == (try await s.row(h))?.state.rawValue)
            }
            // The retention: the newest few, and beyond them only rows that changed the state.
            let kept = try await s.evidence(host: "host-00", bundles: false)
            #expect(kept.count >= EvidenceRetention.recent && kept.count <= n)
            #expect(kept.dropFirst(EvidenceRetention.recent).allSatisfy { $0.stateChanged })
        }
    }

    /// A group of a leader whose lease another holder took: every verdict in it is `store.fenced`, and nothing of it
    /// is written.
    @Test func aStaleLeadersGroupWritesNothing() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                let (a, b) = (stores[0], stores[1])
                try await Self.seed(a)
                let first = try #require(try await a.acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let stale = try a.leading(first)
                try await a.releaseLease(first)
                _ = try #require(try await b.acquireLease(holder: "rctcb-b", for: .seconds(600)))
                let rows = try await b.rows()
                let events = try await b.lastEventSeq()
                let codes = await withTaskGroup(of: RegionError.Code?.self) { group in
                    for (i, h) in Self.hosts.enumerated() {
                        group.addTask {
                            do throws(RegionError) {
                                _ = try await stale.transition(Self.verdict(0, i), host: h, judgedUnder: nil, judged: JudgedEvidence(Self.bundle), now: t0)
                                return nil
                            } catch { return error.code }
                        }
                    }
                    return await group.reduce(into: [RegionError.Code?]()) { $0.append($1) }
                }
                #expect(codes.count == Self.hosts.count && codes.allSatisfy { $0 == .storeFenced })
                #expect(try await b.rows() == rows)
                #expect(try await b.lastEventSeq() == events)
                for h in Self.hosts { #expect(try await b.evidence(host: h, bundles: false).isEmpty) }
            }
        }
    }

    /// A row whose state does not decode (written behind the store's back) fails its own verdict with
    /// `store.corrupt`; the other verdicts of the same burst are written.
    @Test func aRowThatDoesNotDecodeFailsAlone() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r"]) { stores in
                let s = stores[0]
                try await Self.seed(s)
                try psql(cluster.url, "UPDATE host SET state = 'sideways' WHERE region = 'r' AND id = 'host-05'")
                let answers = await withTaskGroup(of: (String, Result<IVTStore.Applied?, RegionError>).self) { group in
                    for (i, h) in Self.hosts.enumerated() {
                        group.addTask {
                            do throws(RegionError) {
                                return (h, .success(try await s.transition(Self.verdict(0, i), host: h, judgedUnder: nil, judged: nil, now: t0)))
                            } catch { return (h, .failure(error)) }
                        }
                    }
                    return await group.reduce(into: [String: Result<IVTStore.Applied?, RegionError>]()) { $0[$1.0] = $1.1 }
                }
                for h in Self.hosts {
                    switch answers[h] {
                    case .failure(let e)?: #expect(h == "host-05" && e.code == .storeCorrupt, "\(h): \(e)")
                    case .success(let a)?: #expect(h != "host-05" && a?.row.version == 1, "\(h)")
                    case nil: Issue.record("no answer for \(h)")
                    }
                }
            }
        }
    }
}

/// Runs `sql` with psql against `url` (a change behind the store's back).
func psql(_ url: String, _ sql: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
    p.arguments = [url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]
    try p.run()
    p.waitUntilExit()
    #expect(p.terminationStatus == 0, "psql: \(sql)")
}
