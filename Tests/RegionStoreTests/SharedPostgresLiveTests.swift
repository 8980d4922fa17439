import Attestation
import Foundation
import RegionLab
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The database under the RC-TCBs, as real processes: PostgreSQL restarted while agents report, and two regions
/// whose RC-TCBs and agents share one database.
@Suite("RC-TCBs on a shared PostgreSQL", .serialized, .timeLimit(.minutes(30)))
struct SharedPostgresLiveTests {
    /// PostgreSQL stopped at once (as if it crashed) and started again while the region's agents report: the
    /// RC-TCBs reconnect, one leads, every host is judged again, and nothing committed before is lost. A leader
    /// that could not renew in time steps down (`store.fenced`); a supervisor starts it again as a follower.
    @Test func postgresRestartedUnderLoad() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 3, rctcbs: 2) { r in
            try r.region.startRCTCB(0)
            _ = try await r.waitForLeader("RC-TCB 1 leads")
            try r.region.startRCTCB(1)
            try r.region.enrolAndStartAgents(via: 0, rctcb: r.urls.joined(separator: ","))
            try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
            let before = try await r.store.events(since: 0, host: nil, limit: 100_000)
            let enrolled = try await r.store.certificates().filter(\.current).map(\.serial)

            try await r.cluster.restartServer()
            let restarted = Date()
            // A supervisor's part: an RC-TCB that stepped down is started again.
            try await waitUntilAsync("a live lease after the restart", seconds: 120) {
                for i in 0..<r.options.rctcbs where !(r.region.rctcbProcess(i)?.isRunning ?? false) {
                    let log = r.region.rctcbOutput(i)
                    #expect(log.contains("stepping down") && log.contains("store."), "\(log.suffix(1500))")
                    try r.region.startRCTCB(i)
                }
                return try await r.store.currentLease()?.live == true
            }
            try await r.wait("judged again after the restart") { rows in
                rows.count == 3 && rows.allSatisfy { $0.state == .trusted && ($0.lastQuoteAt ?? .distantPast) > restarted }
            }
            let after = try await r.store.events(since: 0, host: nil, limit: 100_000)
            #expect(Set(before.map(\.seq)).isSubset(of: Set(after.map(\.seq))))
            #expect(try await r.store.certificates().filter(\.current).map(\.serial) == enrolled)
            #expect(try await r.rows().allSatisfy { $0.akName != nil && !$0.revoked })
        }
    }

    /// Two regions in one database, with the same host ids: each region's RC-TCB leads its own region, judges its
    /// own agents, and neither region's rows, events, certificates or lease are visible to the other.
    @Test func twoRegionsShareOneDatabase() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresCluster.with { cluster in
            try await PostgresRegion.with(cluster: cluster, hosts: 2, rctcbs: 1, region: "pg-east") { east in
                try await PostgresRegion.with(cluster: cluster, hosts: 2, rctcbs: 1, region: "pg-west") { west in
                    for r in [east, west] {
                        try r.region.startRCTCB(0)
                        try r.region.enrolAndStartAgents(via: 0)
                    }
                    for r in [east, west] {
                        try await r.wait("\(r.regionName) trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
                    }
                    // Same host ids, different TPMs: each region holds its own enrolments.
                    let eastAK = try #require(try await east.store.enrolment("host-1")?.akName)
                    let westAK = try #require(try await west.store.enrolment("host-1")?.akName)
                    #expect(eastAK != westAK)
                    for r in [east, west] {
                        #expect(try await r.store.certificates().filter(\.current).count == 2)
                        let lease = try #require(try await r.store.currentLease())
                        #expect(lease.live && lease.lease.region == r.regionName)
                        let kinds = try await r.store.events(since: 0, host: "host-1", limit: 10_000).map(\.kind)
                        #expect(kinds.filter { $0 == "host-added" }.count == 1 && kinds.filter { $0 == "enrolled" }.count == 1, "\(kinds)")
                    }
                    // The audit trails and the certificates share no row.
                    let eastSeqs = Set(try await east.store.events(since: 0, host: nil, limit: 100_000).map(\.seq))
                    let westSeqs = Set(try await west.store.events(since: 0, host: nil, limit: 100_000).map(\.seq))
                    #expect(!eastSeqs.isEmpty && !westSeqs.isEmpty && eastSeqs.isDisjoint(with: westSeqs))
                    let eastSerials = Set(try await east.store.certificates().map(\.serial))
                    #expect(eastSerials.isDisjoint(with: Set(try await west.store.certificates().map(\.serial))))
                    // The operator's direct commands on one region's rows (`--store` with that region's policy).
                    let store = ["--dir", east.region.rctcbDir(0), "--store", cluster.url, "--region", east.regionFile]
                    let certs = try ToolRun.run(east.options.binary, ["rctcb", "certs", "--json"] + store)
                    #expect(certs.status == 0 && eastSerials.allSatisfy { certs.output.contains($0) }, "\(certs.output)")
                    let revoked = try ToolRun.run(east.options.binary, ["rctcb", "revoke", "host-1", "--json"] + store)
                    #expect(revoked.status == 0, "\(revoked.output)")
                    #expect(try await east.store.enrolment("host-1")?.revoked == true)
                    #expect(try await west.store.enrolment("host-1")?.revoked == false)
                    try await east.wait("east's host-1 untrusted") { rows in rows.first { $0.host == "host-1" }?.state == .untrusted }
                    #expect(try await west.rows().allSatisfy { $0.state == .trusted })
                    let noRegion = try ToolRun.run(east.options.binary, ["rctcb", "revoke", "host-2", "--dir", east.region.rctcbDir(0), "--store", cluster.url])
                    #expect(noRegion.status != 0 && noRegion.output.contains("--region"), "\(noRegion.output)")
                }
            }
        }
    }
}
