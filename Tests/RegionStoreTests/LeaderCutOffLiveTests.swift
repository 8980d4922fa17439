import Foundation
import RegionLab
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The leader cut off from PostgreSQL while the rest of its network works: two `rctcb serve` processes, each in a
/// network namespace of its own, reach one PostgreSQL server over veth links; the leader's link to the database
/// goes silent (packets dropped, so its queries wait rather than fail). The leader must stop acting by its own
/// clock when its lease runs out and exit with `store.fenced` then, not a minute later when postgres-nio's pool
/// would give up (or never, while TCP keeps waiting on a silent peer); the follower, which still reaches the
/// database, takes the lease with the next epoch and answers as the leader.
@Suite("A leader cut off from PostgreSQL", .serialized, .timeLimit(.minutes(30)))
struct LeaderCutOffLiveTests {
    @Test func aLeaderCutOffFromTheDatabaseStepsDownAndTheFollowerLeads() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let net = [try NetworkNamespace(), try NetworkNamespace()]
        defer { for n in net { n.destroy() } }
        try await PostgresCluster.with(alsoListening: net.map(\.rootAddress), clients: "10.254.0.0/16") { cluster in
            try await PostgresRegion.with(cluster: cluster, hosts: 2, rctcbs: 2, region: "cut-off") { r in
                let lease = 4
                var daemons: [Daemon] = []
                defer { for d in daemons { d.stop() } }
                func start(_ i: Int) throws -> Daemon {
                    let link = net[i]
                    let portFile = "\(r.dir)/rctcb-\(i + 1).port"
                    let store = "postgresql://postgres@\(link.rootAddress):\(cluster.port)/postgres?sslmode=disable"
                    let daemon = try Daemon(link.ip, ["netns", "exec", link.name, r.options.binary, "rctcb", "serve", "--log-level", "notice",
                                                                  "--region", r.regionFile, "--dir", r.region.rctcbDir(i), "--store", store,
                                                                  "--listen", "127.0.0.1", "--port", "\(r.rctcbPorts[i])", "--port-file", portFile,
                                                                  "--lease", "\(lease)"],
                                            log: URL(fileURLWithPath: "\(r.dir)/rctcb-\(i + 1).log"))
                    daemons.append(daemon)
                    _ = try daemon.waitForPort(file: portFile, seconds: 120)
                    return daemon
                }
                /// Which of the test's RC-TCB processes holds `lease` (its holder names the process id).
                func holder(_ lease: LeaderLease) -> Int? {
                    daemons.firstIndex { lease.holder.hasPrefix("rctcb pid \($0.process.processIdentifier) ") }
                }
                /// `smig-attest ivt` asked of RC-TCB `i` from inside its namespace (an operator beside it).
                func ivt(_ i: Int) throws -> ToolRun {
                    try ToolRun.run(net[i].ip, ["netns", "exec", net[i].name, r.options.binary, "ivt", "--rctcb", "https://127.0.0.1:\(r.rctcbPorts[i])", "--dir", r.region.rctcbDir(i), "--json"])
                }

                let leader = try start(0)
                let first = try await r.waitForLeader("RC-TCB 1 leads")
                #expect(holder(first) == 0, "\(first)")
                _ = try start(1)
                let asked = try ivt(0)
                #expect(asked.status == 0 && asked.output.contains("host-1"), "\(asked.output)")
                let follower = try ivt(1)
                #expect(follower.status != 0 && follower.output.contains("rctcb.not-leader"), "\(follower.output)")

                try net[0].dropTCP(port: cluster.port)
                let cut = ContinuousClock.now
                // Generous: the leader's own bound is its lease (4 s); before it had one, a silent database held its
                // renewal for as long as TCP waited (minutes), and a lost one for the pool's 60 s.
                try await waitUntilAsync("the cut-off leader to step down", seconds: 55) { !leader.process.isRunning }
                let exited = ContinuousClock.now - cut
                print("cut-off leader: exited \(exited) after its link to PostgreSQL was cut (lease \(lease) s)")
                #expect(leader.process.terminationReason == .exit && leader.process.terminationStatus != 0)
                #expect(leader.output.contains("stepping down") && leader.output.contains("store.fenced"), "\(leader.output.suffix(3000))")
                #expect(leader.output.contains("store.unreachable"), "the renewals it waited for end as store.unreachable: \(leader.output.suffix(3000))")

                let second = try await r.waitForLeader("RC-TCB 2 takes over", after: first)
                #expect(holder(second) == 1 && second.epoch == first.epoch + 1, "\(second)")
                try await waitUntilAsync("RC-TCB 2 answers as the leader", seconds: 60) { try ivt(1).status == 0 }
                let now = try #require(try await r.store.currentLease())
                #expect(now.live && now.lease == second)
            }
        }
    }
}
