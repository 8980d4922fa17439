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

    /// `bench region --store postgresql --store-url URL`: the rows run against the server given (no cluster of the
    /// benchmark's own), and the benchmark-only region leaves nothing behind in it; a real region there is untouched.
    @Test func benchRegionOnAGivenServerLeavesNothingBehind() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: [IVTStore.benchmarkRegionName, "region-a"]) { stores in
                let (bench, real) = (stores[0], stores[1])
                try await real.seed(hosts: [("host-a", "10.0.0.1", nil)], policyName: "region-a", policyDigest: "11", now: t0)
                let realRows = try await real.rows()
                let r = try await Spawn.run(try TestBinaries.smigAttest(), ["bench", "region", "--hosts", "6", "--seconds", "0.5", "--concurrency", "2",
                                                                            "--store", "postgresql", "--store-url", cluster.url, "--json"], seconds: 600)
                #expect(r.status == 0, "\(r.output.suffix(3000))")
                let json = try #require(r.output.firstIndex(of: "{").map { String(r.output[$0...]) }, "\(r.output)")
                let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
                #expect((object["postgresql"] as? String)?.contains("127.0.0.1:\(cluster.port)") == true, "\(object["postgresql"] ?? "")")
                let row = try #require((object["rows"] as? [[String: Any]])?.first)
                let e2e = try #require(row["endToEnd"] as? [String: Any])
                #expect(row["store"] as? String == "postgresql" && (e2e["errors"] as? Int) == 0 && ((e2e["attestations"] as? Int) ?? 0) > 0, "\(row)")
                // Not this machine's server to read: no server CPU is claimed for it.
                #expect(row["storeServerCPUMicrosecondsPerAttestation"] == nil, "\(row)")
                #expect(try await bench.rows().isEmpty)
                #expect(try await bench.events(since: 0, host: nil, limit: 10).isEmpty)
                #expect(try await real.rows() == realRows)
            }
        }
    }
}
