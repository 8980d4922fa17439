import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The two backends of ``RegionStore`` the behavioural tests run against: SQLite in a temporary directory, and
/// PostgreSQL in a throw-away cluster (``PostgresCluster``).
enum Backend: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite, postgresql
    var testDescription: String { rawValue }

    /// Opens `count` stores on one region's storage (each its own connections: two IVTStore pools on one file, or
    /// two PostgreSQL connection pools on one database), runs `body`, and removes everything afterwards.
    func withStores<T>(_ count: Int = 1, _ body: ([any RegionStore]) async throws -> T) async throws -> T {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("region-store-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: dir) }
            let path = dir.appendingPathComponent("ivt.sqlite").path
            return try await body(try (0..<count).map { _ in try IVTStore(path: path) })
        case .postgresql:
            return try await PostgresCluster.with { cluster in
                try await withPostgresStores(url: cluster.url, regions: Array(repeating: "region-a", count: count), body)
            }
        }
    }
}

/// The stores' bounds in these tests: an operation, and a transaction left idle, get five minutes instead of
/// ``PostgresStoreLimits/standard``'s 30 s, and opening a store (connecting and migrating) five and a half. The suite
/// runs many tests at once on two cores, each with its own cluster, and for its first minutes the tests that verify,
/// parse and decode keep both threads of the cooperative pool busy: a test's client can wait minutes for a turn. Full
/// runs failed store tests with "no answer within 30.0 seconds" after 421 s, and later dozens of them with "no
/// answer within 150.0 seconds while connecting and migrating the schema". The tests of the bounds pass their own.
let testStoreLimits = PostgresStoreLimits(operation: .seconds(300), connect: .seconds(30), idleInTransaction: .seconds(300))

/// Opens one PostgreSQL store per region name on `url` (``testStoreLimits``), runs `body`, and closes them whatever it did.
func withPostgresStores<T>(url: String, regions: [String], _ body: ([PostgresRegionStore]) async throws -> T) async throws -> T {
    var stores: [PostgresRegionStore] = []
    do {
        for region in regions { stores.append(try await PostgresRegionStore.open(url: url, region: region, limits: testStoreLimits)) }
        let result = try await body(stores)
        for s in stores { await s.close() }
        return result
    } catch {
        for s in stores { await s.close() }
        throw error
    }
}

/// Fixed times and quote facts: the tests are deterministic.
let t0 = Date(timeIntervalSince1970: 1_700_000_000)

func facts(_ i: Int) -> QuoteFacts {
    QuoteFacts(verifiedAt: t0.addingTimeInterval(Double(i)), tpmClock: UInt64(i), resetCount: 1, restartCount: 0, pcrDigest: "ab")
}

func seedTwoHosts(_ s: any RegionStore) async throws {
    try await s.seed(hosts: [("host-a", "127.0.0.1", 8), ("host-b", "127.0.0.2", 4)], policyName: "test", policyDigest: "00", now: t0)
}
