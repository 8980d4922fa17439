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
