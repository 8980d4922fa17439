import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The benchmarks' seam on PostgreSQL (`bench region --store postgresql`): software-key doubles are enrolled, and
/// rows cleared, only in the benchmark-only region; a real region sharing the database is refused and untouched.
@Suite("PostgreSQL store, benchmark doubles", .timeLimit(.minutes(10)))
struct PostgresBenchmarkDoublesLiveTests {
    static let key = IVTStore.BenchmarkDoubleKey(hostId: "host-a", akPublic: [1, 2, 3], akName: [0, 11, 0xAB])

    @Test func aRealRegionIsRefusedAndUnchanged() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["region-a"]) { stores in
                let s = stores[0]
                try await s.seed(hosts: [("host-a", "10.0.0.1", nil)], policyName: "region-a", policyDigest: "11", now: t0)
                let rows = try await s.rows()
                let events = try await s.events(since: 0, host: nil, limit: 100)
                let enrol = await #expect(throws: RegionError.self) { try await s.enrolBenchmarkDoubles([Self.key], now: t0) }
                #expect(enrol?.code == .forbidden)
                let clear = await #expect(throws: RegionError.self) { try await s.clearBenchmarkRegion() }
                #expect(clear?.code == .forbidden)
                #expect(try await s.rows() == rows)
                #expect(try await s.events(since: 0, host: nil, limit: 100) == events)
                #expect(try await s.enrolment("host-a") == nil)
            }
        }
    }

    @Test func theBenchmarkRegionIsEnrolledAndClearedAlone() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: [IVTStore.benchmarkRegionName, "region-a"]) { stores in
                let (bench, real) = (stores[0], stores[1])
                for s in stores { try await s.seed(hosts: [("host-a", "10.0.0.1", nil)], policyName: s.region, policyDigest: "11", now: t0) }
                try await bench.enrolBenchmarkDoubles([Self.key], now: t0)
                let enrolment = try #require(try await bench.enrolment("host-a"))
                #expect(enrolment.akPublic == [1, 2, 3] && enrolment.akName == "000bab" && enrolment.ekCertificate == IVTStore.benchmarkDoubleMarker)
                #expect(try await bench.events(since: 0, host: nil, limit: 100).map(\.kind) == ["host-added", "benchmark-double-enrolled"])
                // A double that is not a host of the region: nothing of the batch is written.
                let stranger = IVTStore.BenchmarkDoubleKey(hostId: "host-z", akPublic: [9], akName: [9])
                let missing = await #expect(throws: RegionError.self) { try await bench.enrolBenchmarkDoubles([Self.key, stranger], now: t0) }
                #expect(missing?.code == .unknownHost)
                #expect(try await bench.events(since: 0, host: nil, limit: 100).count == 2)

                let realRows = try await real.rows()
                try await bench.clearBenchmarkRegion()
                #expect(try await bench.rows().isEmpty)
                #expect(try await bench.events(since: 0, host: nil, limit: 100).isEmpty)
                #expect(try await real.rows() == realRows)
                #expect(try await real.events(since: 0, host: nil, limit: 100).map(\.kind) == ["host-added"])
            }
        }
    }
}
