import Foundation
import Logging
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// Waits for a database that stopped answering are bounded: the server is frozen (SIGSTOP: its connections stay
/// open, nothing answers, as over a link that drops packets). Before the bounds a query on such a connection
/// waited for as long as TCP does; these tests would hang.
@Suite("PostgreSQL store: bounded waits on a silent server", .timeLimit(.minutes(30)))
struct PostgresDeadlineLiveTests {
    /// A store operation against the frozen server is `store.unreachable` once its deadline passes, and the store
    /// works again when the server does.
    @Test func anOperationOnASilentServerIsUnreachable() async throws {
        try await PostgresCluster.with { cluster in
            // Seeded through a store with the tests' bounds (``testStoreLimits``): on a loaded machine the seed alone may
            // take longer than the 2 s under test.
            let seeder = try await PostgresRegionStore.open(url: cluster.url, region: "silent", limits: testStoreLimits)
            try await seedTwoHosts(seeder)
            await seeder.close()
            // Only the operation's bound is under test: a loaded machine may leave a transaction idle for seconds.
            let limits = PostgresStoreLimits(operation: .seconds(2), connect: .seconds(2), idleInTransaction: .seconds(30))
            let store = try await PostgresRegionStore.open(url: cluster.url, region: "silent", limits: limits)
            do {
                try cluster.pause()
                let silent = await #expect(throws: RegionError.self) { _ = try await store.rows() }
                #expect(silent?.code == .storeUnreachable, "\(String(describing: silent))")
                try cluster.resume()
                try await waitUntilAsync("the store answers again", seconds: 120) { (try? await store.rows())?.count == 2 }
                await store.close()
            } catch {
                try? cluster.resume()
                await store.close()
                throw error
            }
        }
    }

    /// Opening a store on a frozen server (the kernel still accepts the connection; the login is never answered) is
    /// `store.unreachable` once connecting and migrating have had their bound, not a wait for ever.
    @Test func openingAStoreOnASilentServerIsUnreachable() async throws {
        try await PostgresCluster.with { cluster in
            try cluster.pause()
            defer { try? cluster.resume() }
            let limits = PostgresStoreLimits(operation: .seconds(2), connect: .seconds(2), idleInTransaction: .seconds(30))
            let silent = await #expect(throws: RegionError.self) {
                _ = try await PostgresRegionStore.open(url: cluster.url, region: "silent", limits: limits)
            }
            #expect(silent?.code == .storeUnreachable, "\(String(describing: silent))")
        }
    }

    /// A leader whose database froze: its renewal is abandoned when the lease runs out by its own clock, it stops
    /// acting, and its leadership ends with `store.fenced` (which ends the process).
    @Test func aLeaderOfASilentServerStepsDownWhenItsLeaseRunsOut() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["frozen"]) { stores in
                try await seedTwoHosts(stores[0])
                let leadership = RegionLeadership(store: LeaderFencedStore(base: stores[0], region: "frozen"), leases: stores[0],
                                                  holder: "rctcb frozen", duration: .seconds(3), logger: Logger(label: "test"))
                try await leadership.step()
                // It took the lease. Whether it may still act is a matter of seconds (the lease is 3 s), which a full run
                // can spend before this line gets a thread.
                #expect(leadership.lease == LeaderLease(region: "frozen", holder: "rctcb frozen", epoch: 1))
                try cluster.pause()
                defer { try? cluster.resume() }
                let ended = await #expect(throws: RegionError.self) { try await leadership.run() }
                #expect(ended?.code == .storeFenced, "\(String(describing: ended))")
                #expect(!leadership.mayAct && leadership.lease == nil)
            }
        }
    }
}
