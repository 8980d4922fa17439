import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The region's leader lease in PostgreSQL: one holder at a time with a growing epoch, and every write of a store
/// that leads refused once its epoch is not the region's current one (fencing).
@Suite("Leader lease and fencing (PostgreSQL)", .timeLimit(.minutes(30)))
struct LeaderLeaseLiveTests {
    @Test func oneHolderAtATimeAndEachRegionItsOwn() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["east", "east", "west"]) { stores in
                let (a, b, west) = (stores[0], stores[1], stores[2])
                let lease = try #require(try await a.acquireLease(holder: "rctcb-a", for: .seconds(600)))
                #expect(lease.epoch == 1 && lease.region == "east")
                #expect(try await b.acquireLease(holder: "rctcb-b", for: .seconds(600)) == nil)
                #expect(try await a.acquireLease(holder: "rctcb-a", for: .seconds(600)) == nil)
                // Another region's lease is its own.
                #expect(try await west.acquireLease(holder: "rctcb-b", for: .seconds(600))?.epoch == 1)
                try await a.renewLease(lease, for: .seconds(600))
                let leader = try a.leading(lease)
                try await seedTwoHosts(leader)
                #expect(try await leader.transition(.trusted(facts(1), measuredBy: "host-b"), host: "host-a", judgedUnder: nil, evidence: nil,
                                                    now: t0)?.row.state == .trusted)
                #expect(throws: RegionError.self) { _ = try west.leading(lease) }
                // Released: the next holder gets the next epoch at once, and the old leader's writes are refused.
                try await a.releaseLease(lease)
                let next = try #require(try await b.acquireLease(holder: "rctcb-b", for: .seconds(600)))
                #expect(next.epoch == 2 && next.holder == "rctcb-b")
                let refused = await #expect(throws: RegionError.self) {
                    _ = try await leader.transition(.untrusted(facts(2), measuredBy: "host-b", code: "quote.pcr-mismatch", detail: "PCR 0"),
                                                    host: "host-a", judgedUnder: nil, evidence: nil, now: t0)
                }
                #expect(refused?.code == .storeFenced && refused?.reason.contains("rctcb-b") == true && refused?.hint != nil)
                #expect(try await b.row("host-a")?.state == .trusted)
                #expect(try await b.row("host-a")?.version == 1)
            }
        }
    }

    /// A leader that stops renewing (paused, cut off) loses the lease when it expires by the database's clock: a
    /// follower takes over with the next epoch, and everything the old leader then tries to write is refused and
    /// changes nothing, its audit events included.
    @Test func anExpiredLeaderIsFencedOut() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                let (a, b) = (stores[0], stores[1])
                // Seeded before the short lease is taken: on a loaded machine 300 ms may pass before a write could.
                try await seedTwoHosts(a)
                let old = try #require(try await a.acquireLease(holder: "rctcb-a", for: .milliseconds(300)))
                let stale = try a.leading(old)
                var taken: LeaderLease?
                try await waitUntilAsync("the follower to take the expired lease", seconds: 60) {
                    taken = try await b.acquireLease(holder: "rctcb-b", for: .seconds(600))
                    return taken != nil
                }
                let lease = try #require(taken)
                #expect(lease.epoch == old.epoch + 1)
                let events = try await b.events(since: 0, host: nil, limit: 100).count

                for attempt in 0..<3 {
                    let e = await #expect(throws: RegionError.self) {
                        switch attempt {
                        case 0: _ = try await stale.transition(.unreachable(detail: "x"), host: "host-a", judgedUnder: nil, evidence: nil, now: t0)
                        case 1: try await stale.audit(host: "host-a", kind: "evacuation-step", code: nil, detail: "move vm-1", now: t0)
                        default: try await stale.seed(hosts: [("host-c", "10.0.0.3", 1)], policyName: "p", policyDigest: "d", now: t0)
                        }
                    }
                    #expect(e?.code == .storeFenced)
                }
                let renew = await #expect(throws: RegionError.self) { try await a.renewLease(old, for: .seconds(600)) }
                #expect(renew?.code == .storeFenced)
                #expect(try await b.events(since: 0, host: nil, limit: 100).count == events)
                #expect(try await b.rows().map(\.host) == ["host-a", "host-b"])
                #expect(try await b.row("host-a")?.version == 0)

                // The new leader writes.
                let leader = try b.leading(lease)
                #expect(try await leader.transition(.unreachable(detail: "no answer"), host: "host-a", judgedUnder: nil, evidence: nil,
                                                    now: t0)?.row.state == .unreachable)
            }
        }
    }
}
