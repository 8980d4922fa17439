import Foundation
import RegionLab
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// A ``LoopbackRegion`` whose RC-TCBs keep their state in one real PostgreSQL cluster (`rctcb serve --store
/// postgresql://…`, a file per host standing in for its hypervisor), and the test's own view of that state: the
/// region's rows read through a store of its own.
@dynamicMemberLookup
final class PostgresRegion: @unchecked Sendable {
    // @unchecked Sendable: used from one test at a time.
    let region: LoopbackRegion
    let cluster: PostgresCluster
    let store: PostgresRegionStore

    subscript<T>(dynamicMember path: KeyPath<LoopbackRegion, T>) -> T { region[keyPath: path] }

    var regionName: String { region.options.regionName }

    /// Starts a cluster and a region of `hosts` hosts and `rctcbs` RC-TCB directories (no RC-TCB runs yet), runs
    /// `body`, and stops everything afterwards.
    static func with<T>(hosts: Int, rctcbs: Int, region: String = "pg-live", policyExtra: String = "",
                        _ body: (PostgresRegion) async throws -> T) async throws -> T {
        try await PostgresCluster.with { cluster in
            try await with(cluster: cluster, hosts: hosts, rctcbs: rctcbs, region: region, policyExtra: policyExtra, body)
        }
    }

    /// A region in a cluster the caller started (several regions sharing one database).
    static func with<T>(cluster: PostgresCluster, hosts: Int, rctcbs: Int, region name: String, policyExtra: String = "",
                        _ body: (PostgresRegion) async throws -> T) async throws -> T {
        var options = LoopbackRegion.Options(binary: try TestBinaries.smigAttest())
        (options.hosts, options.rctcbs, options.regionName, options.policyTail) = (hosts, rctcbs, name, policyExtra)
        (options.hypervisor, options.store, options.vmsPerHost, options.measurementInterval) = (.file, .postgresql(url: cluster.url), 0, 0.3)
        let region = try LoopbackRegion(options)
        defer { region.stop() }
        let store = try await PostgresRegionStore.open(url: cluster.url, region: name, limits: testStoreLimits)
        do {
            try await region.prepare()
            let result = try await body(PostgresRegion(region: region, cluster: cluster, store: store))
            region.stop()
            await store.close()
            return result
        } catch {
            region.stop()
            await store.close()
            throw error
        }
    }

    init(region: LoopbackRegion, cluster: PostgresCluster, store: PostgresRegionStore) {
        (self.region, self.cluster, self.store) = (region, cluster, store)
    }

    func rows() async throws -> [IVTRow] { try await store.rows() }

    func wait(_ what: String, seconds: Double = 180, _ condition: ([IVTRow]) -> Bool) async throws {
        do { try await waitUntilAsync(what, seconds: seconds) { condition(try await rows()) } } catch {
            let table = ((try? await rows()) ?? []).map { "\($0.host) \($0.state) \($0.failureCode ?? "") \($0.failureDetail ?? "")" }.joined(separator: "\n")
            let logs = (0..<region.options.rctcbs).map { "RC-TCB \($0 + 1):\n\(region.rctcbOutput($0).suffix(2500))" }.joined(separator: "\n")
            throw PostgresRegionFailure(description: "\(error)\nIVT:\n\(table)\n\(logs)")
        }
    }
}

struct PostgresRegionFailure: Error, CustomStringConvertible {
    let description: String
}
