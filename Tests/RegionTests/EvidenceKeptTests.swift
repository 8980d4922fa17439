import Attestation
import Foundation
import GRDB
import RegionTCB
import Testing
import TPMWire

/// The evidence behind the IVT's verdicts, kept in the IVT (real SQLite): every bundle that changed a host's
/// state and the newest few, bounded per host, in the transaction of the verdict.
@Suite("Evidence kept")
struct EvidenceKeptTests {
    static let start = Date(timeIntervalSince1970: 2_000_000)

    static func bundle(_ host: String, _ i: Int) -> EvidenceBundle {
        EvidenceBundle(hostId: host, akPublic: [0, 1, 2], akName: [0, 0x0b], nonce: [UInt8](repeating: UInt8(i & 0xff), count: 16),
                       attest: [UInt8(i & 0xff), 9], signature: [7], selection: try! PCRSelectionList(parsing: "sha256:15"),
                       pcrValues: [[UInt8](repeating: 0xaa, count: 32)], bootLog: nil, agentTime: start)
    }

    static func facts(_ i: Int) -> QuoteFacts {
        QuoteFacts(verifiedAt: start.addingTimeInterval(Double(i)), tpmClock: UInt64(1000 + i), resetCount: 1, restartCount: 0, pcrDigest: "ab")
    }

    @Test func theNewestAndEveryStateChangeAreKeptWithinTheBound() throws {
        let (s, _) = try IVTStoreTests.store()
        // 3 state changes (unknown → trusted → untrusted → trusted), then many verdicts that change nothing.
        _ = try s.transition(.trusted(Self.facts(0), measuredBy: "host-b"), host: "host-a", evidence: Self.bundle("host-a", 0), now: Self.start)
        _ = try s.transition(.untrusted(Self.facts(1), measuredBy: "rc-tcb", code: "golden.digest-not-allowed", detail: "bad"), host: "host-a",
                             evidence: Self.bundle("host-a", 1), now: Self.start.addingTimeInterval(1))
        _ = try s.transition(.trusted(Self.facts(2), measuredBy: "rc-tcb"), host: "host-a", evidence: Self.bundle("host-a", 2),
                             now: Self.start.addingTimeInterval(2))
        for i in 3..<40 {
            _ = try s.transition(.trusted(Self.facts(i), measuredBy: "host-b"), host: "host-a", evidence: Self.bundle("host-a", i),
                                 now: Self.start.addingTimeInterval(Double(i)))
        }
        let kept = try s.evidence(host: "host-a")
        #expect(kept.count == EvidenceRetention.recent + 3)
        #expect(kept.filter(\.stateChanged).map(\.verdict) == [.trusted, .untrusted, .trusted])
        #expect(kept.prefix(EvidenceRetention.recent).allSatisfy { !$0.stateChanged })
        let bad = try #require(kept.first { $0.verdict == .untrusted })
        #expect(bad.code == "golden.digest-not-allowed" && bad.detail == "bad" && bad.measuredBy == "rc-tcb")
        // The state change's audit event is the one the evidence names.
        let event = try #require(try s.events(host: "host-a").first { $0.newState == "untrusted" })
        #expect(bad.eventSeq == event.seq)
        // The bundle comes back as it was sent, only when asked for.
        #expect(kept.allSatisfy { $0.bundle == nil })
        let withBundles = try s.evidence(host: "host-a", bundles: true)
        #expect(withBundles.first { $0.seq == bad.seq }?.bundle == Self.bundle("host-a", 1))
        // Another host's evidence is its own.
        #expect(try s.evidence(host: "host-b").isEmpty)
    }

    /// A tampered row of kept evidence is a coded error naming the table it is in (state changes and the recent
    /// ring are two tables), its row and its column.
    @Test func aTamperedKeptRowNamesItsTable() throws {
        let (s, path) = try IVTStoreTests.store()
        _ = try s.transition(.trusted(Self.facts(0), measuredBy: "host-b"), host: "host-a", evidence: Self.bundle("host-a", 0), now: Self.start)
        _ = try s.transition(.trusted(Self.facts(1), measuredBy: "host-b"), host: "host-a", evidence: Self.bundle("host-a", 1),
                             now: Self.start.addingTimeInterval(1))
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: "UPDATE evidence_recent SET bundle = x'00'") }
        let recent = #expect(throws: RegionError.self) { try s.evidence(host: "host-a", bundles: true) }
        #expect(recent?.code == .storeCorrupt)
        #expect(recent?.reason.hasPrefix("table evidence_recent, row 2, column bundle:") == true, "\(String(describing: recent))")
        try db.write { try $0.execute(sql: "DELETE FROM evidence_recent; UPDATE evidence SET verdict = 'fine'") }
        let changes = #expect(throws: RegionError.self) { try s.evidence(host: "host-a") }
        #expect(changes?.reason.hasPrefix("table evidence, row 1, column verdict:") == true, "\(String(describing: changes))")
    }

    /// A host that flaps keeps at most ``EvidenceRetention/perHost`` bundles, the newest.
    @Test func aFlappingHostIsBounded() throws {
        let (s, _) = try IVTStoreTests.store()
        for i in 0..<(EvidenceRetention.perHost * 2) {
            let v: HostVerdict = i.isMultiple(of: 2) ? .trusted(Self.facts(i), measuredBy: "host-b")
                : .untrusted(Self.facts(i), measuredBy: "rc-tcb", code: "golden.pcr-mismatch", detail: "flap \(i)")
            _ = try s.transition(v, host: "host-a", evidence: Self.bundle("host-a", i), now: Self.start.addingTimeInterval(Double(i)))
        }
        let kept = try s.evidence(host: "host-a")
        #expect(kept.count == EvidenceRetention.perHost)
        #expect(kept.first?.detail == "flap \(EvidenceRetention.perHost * 2 - 1)")
    }

    /// What is kept after every verdict of a long seeded run (runs of verdicts that change nothing, flaps, two hosts)
    /// is exactly the rule applied to everything ever recorded: the newest ``EvidenceRetention/perHost`` of (the newest
    /// ``EvidenceRetention/recent`` ∪ every state change).
    @Test func whatIsKeptIsTheRuleOverTheWholeHistory() throws {
        let (s, _) = try IVTStoreTests.store()
        var history: [String: [(seq: Int64, changed: Bool)]] = [:]
        var seed: UInt64 = 0x5EED
        func next() -> UInt64 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return seed >> 33
        }
        for i in 0..<600 {
            let host = next() % 3 == 0 ? "host-b" : "host-a"
            let bad = next() % 5 == 0
            let v: HostVerdict = bad ? .untrusted(Self.facts(i), measuredBy: "rc-tcb", code: "golden.pcr-mismatch", detail: "bad \(i)")
                : .trusted(Self.facts(i), measuredBy: "host-c")
            _ = try s.transition(v, host: host, evidence: Self.bundle(host, i), now: Self.start.addingTimeInterval(Double(i)))
            let newest = try #require(try s.evidence(host: host).first)
            history[host, default: []].append((newest.seq, newest.stateChanged))
            let all = history[host]!
            let recent = Set(all.suffix(EvidenceRetention.recent).map(\.seq))
            let expected = all.filter { $0.changed || recent.contains($0.seq) }.suffix(EvidenceRetention.perHost).map(\.seq).reversed()
            #expect(try s.evidence(host: host).map(\.seq) == Array(expected), "after verdict \(i) on \(host)")
        }
        #expect(history.values.allSatisfy { $0.filter(\.changed).count > EvidenceRetention.perHost })
    }

    /// A verdict without evidence (silence, the evacuation's own steps) keeps nothing; a host not in the IVT keeps
    /// nothing either.
    @Test func noEvidenceNoRecord() throws {
        let (s, _) = try IVTStoreTests.store()
        _ = try s.transition(.unreachable(detail: "no answer"), host: "host-a", now: Self.start)
        #expect(try s.transition(.trusted(Self.facts(0), measuredBy: "rc-tcb"), host: "nobody", evidence: Self.bundle("nobody", 0)) == nil)
        #expect(try s.evidence(host: "host-a").isEmpty && s.evidence(host: "nobody").isEmpty)
    }

    /// A database whose `evidence` table kept every verdict's bundle (the layout before verdicts that change nothing
    /// were kept in place) is migrated when it is opened: the same evidence is listed, bundles byte for byte, and what
    /// is kept after later verdicts is the rule over the old rows and the new ones together.
    @Test func evidenceKeptInTheEvidenceTableIsMovedWhenOpened() throws {
        let (s, path) = try IVTStoreTests.store(hosts: ["host-a", "host-b", "host-c"])
        // The previous release's schema: the evidence table with its second index, none of what replaced it.
        let queue = try DatabaseQueue(path: path)
        var history: [String: [(seq: Int64, changed: Bool)]] = [:]
        try queue.write { db in
            try db.execute(sql: """
                DROP TABLE evidence_recent; DROP TABLE evidence_counter; DROP INDEX host_evidence_ring;
                ALTER TABLE host DROP COLUMN evidence_ring; ALTER TABLE host DROP COLUMN evidence_next;
                CREATE INDEX evidence_host_changed ON evidence (host, state_changed, seq);
                DELETE FROM grdb_migrations WHERE identifier LIKE 'v10%';
                """)
            // host-a: 3 state changes among 7 verdicts that changed nothing (more than the ring holds); host-b: 2
            // that changed nothing; host-c: none.
            let rows: [(String, Bool)] = [("host-a", true), ("host-a", false), ("host-b", false), ("host-a", false), ("host-a", true),
                                          ("host-a", false), ("host-a", false), ("host-b", false), ("host-a", false), ("host-a", true),
                                          ("host-a", false), ("host-a", false)]
            for (i, (host, changed)) in rows.enumerated() {
                try db.execute(sql: """
                    INSERT INTO evidence (host, at, verdict, state_changed, event_seq, code, detail, measured_by, policy_digest, bundle)
                    VALUES (?, ?, ?, ?, NULL, NULL, ?, 'host-b', '00', ?)
                    """, arguments: [host, Self.start.addingTimeInterval(Double(i)).timeIntervalSince1970, changed ? "untrusted" : "trusted",
                                     changed, "old \(i)", Self.bundle(host, i).encoded()])
                history[host, default: []].append((db.lastInsertedRowID, changed))
            }
        }
        try queue.close()
        func expected(_ host: String) -> [Int64] {
            let all = history[host] ?? []
            let recent = Set(all.suffix(EvidenceRetention.recent).map(\.seq))
            return all.filter { $0.changed || recent.contains($0.seq) }.suffix(EvidenceRetention.perHost).map(\.seq).reversed()
        }
        let reopened = try IVTStore(path: path)
        for host in ["host-a", "host-b", "host-c"] {
            let kept = try reopened.evidence(host: host, bundles: true)
            #expect(kept.map(\.seq) == expected(host), "\(host)")
            for k in kept {
                let i = Int(k.detail?.split(separator: " ").last ?? "") ?? -1
                #expect(k.bundle == Self.bundle(host, i) && k.stateChanged == (k.verdict == .untrusted), "\(host) \(k.seq)")
            }
        }
        // host-a: its newest five (one a state change) and its two older state changes.
        #expect(try reopened.evidence(host: "host-a").count == 7 && reopened.evidence(host: "host-b").count == 2)
        // Later verdicts: numbered after the old rows, kept by the same rule over the whole history.
        for i in 0..<14 {
            let host = i.isMultiple(of: 3) ? "host-b" : "host-a"
            let v: HostVerdict = i == 7 ? .untrusted(Self.facts(i), measuredBy: "rc-tcb", code: "golden.pcr-mismatch", detail: "new \(i)")
                : .trusted(Self.facts(i), measuredBy: "host-c")
            _ = try reopened.transition(v, host: host, evidence: Self.bundle(host, 100 + i), now: Self.start.addingTimeInterval(Double(100 + i)))
            let newest = try #require(try reopened.evidence(host: host).first)
            #expect(newest.seq > history.values.joined().map(\.seq).max()!)
            history[host, default: []].append((newest.seq, newest.stateChanged))
            #expect(try reopened.evidence(host: host).map(\.seq) == expected(host), "after verdict \(i) on \(host)")
        }
    }

    /// A database made before evidence was kept is migrated when it is opened: its rows and events stay.
    @Test func anExistingDatabaseIsMigrated() throws {
        let (s, path) = try IVTStoreTests.store()
        _ = try s.transition(.trusted(Self.facts(0), measuredBy: "host-b"), host: "host-a", now: Self.start)
        // Make it the database of the previous release: no evidence table, its migration not recorded.
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: "DROP TABLE evidence")
            try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier LIKE 'v5%'")
        }
        try queue.close()
        let reopened = try IVTStore(path: path)
        #expect(try reopened.row("host-a")?.state == .trusted)
        _ = try reopened.transition(.trusted(Self.facts(1), measuredBy: "host-b"), host: "host-a", evidence: Self.bundle("host-a", 1))
        #expect(try reopened.evidence(host: "host-a").count == 1)
    }
}
