import Foundation
import Logging
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// Two RC-TCBs' leadership of one region on a real PostgreSQL server, round by round: one takes the lease and
/// writes through its fenced view; the other follows and its writes are refused at once; when the leader's lease
/// passes on, its next round steps it down with `store.fenced`.
@Suite("Region leadership rounds (PostgreSQL)", .timeLimit(.minutes(30)))
struct RegionLeadershipLiveTests {
    @Test func oneLeadsTheOtherFollowsAndAStaleLeaderStepsDown() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                try await seedTwoHosts(stores[0])
                let lease = Duration.seconds(30)  // long enough for the first checks under the full suite's load (10 s was not, once in CI); A then lets it run out
                let (a, b) = (stores.map { LeaderFencedStore(base: $0, region: "r") }[0], stores.map { LeaderFencedStore(base: $0, region: "r") }[1])
                let leaderA = RegionLeadership(store: a, leases: stores[0], holder: "rctcb a", duration: lease, logger: Logger(label: "test"))
                let leaderB = RegionLeadership(store: b, leases: stores[1], holder: "rctcb b", duration: lease, logger: Logger(label: "test"))
                #expect(!leaderA.mayAct && !leaderB.mayAct)

                try await leaderA.step()
                try await leaderB.step()
                #expect(leaderA.mayAct && !leaderB.mayAct && leaderA.lease?.epoch == 1 && leaderB.lease == nil)
                #expect(await leaderB.leader() == "rctcb a")
                try await a.audit(host: "host-a", kind: "by-the-leader", code: nil, detail: nil, now: t0)
                let follower = await #expect(throws: RegionError.self) {
                    try await b.audit(host: "host-a", kind: "by-a-follower", code: nil, detail: nil, now: t0)
                }
                #expect(follower?.code == .storeFenced)
                // Reads are the shared rows, on both.
                #expect(try await b.events(since: 0, host: nil, limit: 100).map(\.kind).contains("by-the-leader"))
                #expect(try await b.events(since: 0, host: nil, limit: 100).allSatisfy { $0.kind != "by-a-follower" })

                // A misses its renewals (paused): by its own clock it stops acting, B takes the lease, and A's next
                // round steps it down; its writes are refused by the database's fence meanwhile.
                try await waitUntilAsync("A's lease runs out", seconds: 120) { !leaderA.mayAct }
                try await waitUntilAsync("B takes over", seconds: 120) {
                    try await leaderB.step()
                    return leaderB.mayAct
                }
                #expect(leaderB.lease?.epoch == 2)
                let stale = await #expect(throws: RegionError.self) {
                    try await a.audit(host: "host-a", kind: "by-a-stale-leader", code: nil, detail: nil, now: t0)
                }
                #expect(stale?.code == .storeFenced)
                let steppedDown = await #expect(throws: RegionError.self) { try await leaderA.step() }
                #expect(steppedDown?.code == .storeFenced && leaderA.lease == nil)
                let afterStepDown = await #expect(throws: RegionError.self) {
                    try await a.audit(host: "host-a", kind: "by-a-stale-leader", code: nil, detail: nil, now: t0)
                }
                #expect(afterStepDown?.code == .storeFenced)
                try await b.audit(host: "host-a", kind: "by-the-new-leader", code: nil, detail: nil, now: t0)
                let kinds = try await b.events(since: 0, host: "host-a", limit: 100).map(\.kind)
                #expect(kinds == ["host-added", "by-the-leader", "by-the-new-leader"])
            }
        }
    }
}
