import Foundation
import PostgresLab
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The schema's migration on a real server: every pending step runs in one `DO` block of the migrating transaction,
/// so what `schema_migrations` records is what the database has, once per step, whoever opened the store and when.
@Suite("PostgreSQL schema migration", .timeLimit(.minutes(10)))
struct PostgresSchemaLiveTests {
    static let steps = "SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations"
    static let carried = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'ring_nonce' AND column_name = 'carried'"

    /// A database an older RC-TCB migrated up to step 5 gets steps 6 and 7 (the ring nonce table, then its column),
    /// each recorded once, and keeps its rows.
    @Test func aDatabaseAtAnEarlierStepGetsOnlyTheStepsItLacks() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r"]) { stores in
                try await stores[0].seed(hosts: [("h", "10.0.0.1", nil)], policyName: "p", policyDigest: "d", now: t0)
            }
            // Back to the schema as step 5 left it.
            try psql(cluster.url, "DROP TABLE ring_nonce; DELETE FROM schema_migrations WHERE version >= 6")
            #expect(try psqlValue(cluster.url, Self.steps) == "1,2,3,4,5")
            #expect(try psqlValue(cluster.url, Self.carried) == "0")

            let hosts = try await withPostgresStores(url: cluster.url, regions: ["r"]) { stores in try await stores[0].rows().map(\.host) }
            #expect(hosts == ["h"])
            #expect(try psqlValue(cluster.url, Self.steps) == "1,2,3,4,5,6,7")
            #expect(try psqlValue(cluster.url, Self.carried) == "1")
            #expect(try psqlValue(cluster.url, "SELECT count(*) FROM host") == "1")
        }
    }

    /// Several RC-TCBs starting at once on an empty database: each open waits for the migration lock, one applies
    /// the steps, the others find them applied; none fails and every step is recorded once.
    @Test func storesOpeningAtOnceMigrateOnce() async throws {
        try await PostgresCluster.with { cluster in
            let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<5 {
                    group.addTask {
                        try await withPostgresStores(url: cluster.url, regions: ["r\(i)"]) { stores in
                            try await stores[0].rows().isEmpty
                        }
                    }
                }
                return try await group.reduce(into: 0) { n, empty in n += empty ? 1 : 0 }
            }
            #expect(opened == 5)
            #expect(try psqlValue(cluster.url, Self.steps) == "1,2,3,4,5,6,7")
            #expect(try psqlValue(cluster.url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == "13")
        }
    }
}
