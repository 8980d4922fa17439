import Foundation
import GRDB
import RegionTCB
import Testing

/// The rows the IVT's group commit holds between its transactions (``WrittenRows``): a host's next verdict is applied
/// to the row its last one wrote, unless anything else wrote the database in between (another connection, or this one
/// outside the group commit), and what it answers is what the table holds.
@Suite("IVT group commit: rows held between transactions")
struct WrittenRowsTests {
    static func verdict(_ store: IVTStore, _ host: String, _ i: Int) async throws -> IVTStore.Applied {
        try #require(try await IVTGroupCommitTests.submit(store, host, i).value)
    }

    @Test func everyAnswerIsTheRowTheTableHolds() async throws {
        let hosts = ["host-a", "host-b", "host-c"]
        let (s, path) = try IVTStoreTests.store(hosts: hosts)
        let reader = try IVTStore(path: path)
        var verdicts: [String: Int] = [:]
        for i in 1...12 {
            // One at a time and several at once: rows held are used alone and within groups.
            let applied = i % 3 == 0
                ? try await withThrowingTaskGroup(of: IVTStore.Applied.self) { g in
                    for h in hosts { g.addTask { try await Self.verdict(s, h, i) } }
                    return try await g.reduce(into: []) { $0.append($1) }
                }
                : [try await Self.verdict(s, hosts[i % hosts.count], i)]
            for a in applied {
                verdicts[a.row.host, default: 0] += 1
                #expect(try reader.row(a.row.host) == a.row)
                #expect(a.row.state == .trusted)
            }
        }
        // Each host's recent evidence is counted in its row as it goes: its first verdict (a state change) and the
        // newest `recent` of the others are there, newest first.
        for h in hosts {
            let kept = try reader.evidence(host: h)
            let n = try #require(verdicts[h])
            #expect(kept.count == min(n - 1, EvidenceRetention.recent) + 1)
            #expect(kept.map(\.seq) == kept.map(\.seq).sorted(by: >))
        }
    }

    /// Held across transactions: a host's row is still held after a transaction of another host's verdict alone.
    @Test func rowsAreHeldFromOneTransactionToTheNext() async throws {
        let (s, _) = try IVTStoreTests.store(hosts: ["host-a", "host-b", "host-z"])
        // Each host's first verdict changes its state, the second gives it its evidence ring: from the third on, its
        // row is held.
        for i in 1...3 { _ = try await Self.verdict(s, "host-a", i) }
        #expect(s.groupCommit.heldRows == 1)
        for i in 1...3 { _ = try await Self.verdict(s, "host-b", i) }
        #expect(s.groupCommit.heldRows == 2, "host-a's row outlived the transactions of host-b's verdicts")
        try s.revoke(host: "host-z")
        _ = try await Self.verdict(s, "host-a", 4)
        #expect(s.groupCommit.heldRows == 1, "a write outside the group commit forgets what was held")
    }

    @Test func aRevocationThroughAnotherConnectionIsSeenByTheNextVerdict() async throws {
        let (s, path) = try IVTStoreTests.store(hosts: ["host-a", "host-z"])
        // The first verdict changes the state, the second gives the host its evidence ring: the third's row is held.
        for i in 1...3 { _ = try await Self.verdict(s, "host-a", i) }
        // An operator's command opens the IVT itself (another connection, as another process would).
        try IVTStore(path: path, flushEveryCommit: true).revoke(host: "host-a")
        let after = try await Self.verdict(s, "host-a", 4)
        #expect(after.row.revoked)
        #expect(after.row.state == .untrusted, "evidence does not make a revoked host trusted")
        #expect(try IVTStore(path: path).row("host-a") == after.row)
    }

    @Test func aRevocationThroughTheSameStoreIsSeenByTheNextVerdict() async throws {
        let (s, path) = try IVTStoreTests.store(hosts: ["host-a", "host-z"])
        // The first verdict changes the state, the second gives the host its evidence ring: the third's row is held.
        for i in 1...3 { _ = try await Self.verdict(s, "host-a", i) }
        // The same connection, outside the group commit.
        try s.revoke(host: "host-a")
        let after = try await Self.verdict(s, "host-a", 4)
        #expect(after.row.revoked)
        #expect(after.row.state == .untrusted)
        #expect(try IVTStore(path: path).row("host-a") == after.row)
    }

    /// A group that does not commit leaves nothing held: the next verdict is applied to the row as committed before.
    @Test func aGroupThatDoesNotCommitLeavesNoRowHeld() async throws {
        let (s, path) = try IVTStoreTests.store(hosts: ["host-a", "host-z"])
        var last: IVTStore.Applied?
        for i in 1...3 { last = try await Self.verdict(s, "host-a", i) }
        let committed = try #require(last)
        s.groupCommit.setBeforeCommit { _ in throw IVTGroupCommitTests.CommitRefused() }
        await #expect(throws: RegionError.self) { try await Self.verdict(s, "host-a", 4) }
        s.groupCommit.setBeforeCommit(nil)
        let next = try await Self.verdict(s, "host-a", 5)
        #expect(next.row.version == committed.row.version + 1, "applied to the committed row, not the one rolled back")
        #expect(try IVTStore(path: path).row("host-a") == next.row)
    }
}
