import BuiltInGuests
import Foundation
import Migration
import RegionLab
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Swtpm
import Testing

/// VMs of a PostgreSQL region: the region's inventory and migration journal in the store every RC-TCB shares (each
/// RC-TCB has its own directory and no inventory file), written here as the operator's commands write it; real QEMU
/// ticker guests on loopback "hosts".
extension PostgresRegion {
    /// The region's inventory in the store, as the operator reaches it (`vm … --store URL --region FILE`).
    func inventory() async throws -> PostgresVMInventory { try await store.vmInventory(.operator) }

    func addVMHosts() async throws { try await region.addVMHosts(to: try await inventory()) }

    func startVM(_ name: String, on host: String) async throws {
        try await region.startVM(name, on: host, memoryMiB: 32, inventory: try await inventory())
    }

    /// The hosts on which `vm` has a QEMU process, with its run state.
    func copies(of vm: String) async throws -> [String: VMRunState] { try await region.copies(of: vm, inventory: try await inventory()) }

    /// Kills every QEMU the region's inventory started (sync: for defers).
    func killGuests() { killProcesses(pidFilesUnder: "\(region.rctcbDir)/hosts") }

    /// The live lease, once one is.
    func waitForLeader(_ what: String, after old: LeaderLease? = nil) async throws -> LeaderLease {
        var found: LeaderLease?
        try await waitUntilAsync(what, seconds: 120) {
            guard let current = try await store.currentLease(), current.live, current.lease.epoch > (old?.epoch ?? 0) else { return false }
            found = current.lease
            return true
        }
        return try #require(found)
    }

    /// Which RC-TCB of the test holds `lease` (its holder names the process id).
    func server(holding lease: LeaderLease) -> Int? {
        (0..<region.options.rctcbs).first { i in region.rctcbProcess(i).map { lease.holder.hasPrefix("rctcb pid \($0.processIdentifier) ") } ?? false }
    }
}

/// Several RC-TCBs of one region on PostgreSQL as real processes: one leads, the others follow; the leader's death
/// or pause hands the region to a follower, which finishes what the leader left; agents, given every RC-TCB's
/// URL, follow the leader; a leader that wakes up after its lease passed on is refused and steps down.
@Suite("Several RC-TCBs on PostgreSQL: failover", .serialized, .timeLimit(.minutes(30)))
struct LeaderFailoverLiveTests {
    /// The leader SIGKILLed in the middle of an evacuation (right after the VM reached the target, paused): a
    /// follower, with its own directory and no inventory file, leads, finishes the evacuation from the journal in
    /// PostgreSQL, and the VM runs exactly once; no audit event (IVT or inventory) is lost or doubled.
    @Test func aFollowerFinishesTheEvacuationOfAKilledLeader() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 2, rctcbs: 2) { r in
            defer { r.killGuests() }
            let common = ["--lease", "2"]
            try r.region.startRCTCB(0, common, executable: [try TestBinaries.rctcbHooked(), "--crash-after", "evacuation.migrated"])
            let first = try await r.waitForLeader("RC-TCB 1 leads")
            #expect(r.server(holding: first) == 0, "\(first)")
            try r.region.startRCTCB(1, common)
            try await r.addVMHosts()
            try r.region.enrolAndStartAgents(via: 0, rctcb: r.urls.joined(separator: ","))
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            try await r.startVM("vm-k", on: "host-1")

            try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
            let leader = try #require(r.region.rctcbProcess(0))
            try await waitUntilAsync("the leader to die mid-evacuation", seconds: 180) { !leader.isRunning }
            #expect(leader.terminationReason == .uncaughtSignal && leader.terminationStatus == SIGKILL)
            let died = ContinuousClock.now
            let before = try await r.store.events(since: 0, host: nil, limit: 100_000)
            let journalBefore = try await r.inventory().events(vm: "vm-k")
            // The dead leader's move is in the shared journal, transferred; it is open at that step unless the follower
            // (lease 2 s) already took it up: under load this read may come after the takeover. The journal below
            // shows it transferred once and closed once.
            let open = try await r.inventory().openMigrations().map { "\($0.vm) \($0.source)->\($0.target) \($0.step.rawValue)" }
            #expect(open.count <= 1 && open.allSatisfy { $0.hasPrefix("vm-k host-1->host-2 ") }, "\(open)")
            #expect(journalBefore.contains { $0.what == "migration-transferred" }, "\(journalBefore.map(\.what))")
            #expect(try await r.copies(of: "vm-k").values.filter { $0 == .running }.count <= 1)

            let second = try await r.waitForLeader("RC-TCB 2 leads", after: first)
            print("failover: RC-TCB 2 leads \(ContinuousClock.now - died) after the leader died (lease 2 s)")
            #expect(r.server(holding: second) == 1, "\(second)")
            try await r.wait("host-1 evacuated by the new leader") { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
            try await waitUntilAsync("vm-k settles on host-2", seconds: 120) { (try await r.copies(of: "vm-k")) == ["host-2": .running] }
            #expect(try await r.inventory().openMigrations().isEmpty)
            let settled = try await r.inventory().vm(named: "vm-k")
            #expect(settled.host == "host-2" && settled.state == .running)
            // Each RC-TCB kept no inventory file of its own: the journal is the store's.
            #expect((0..<2).allSatisfy { !FileManager.default.fileExists(atPath: "\(r.region.rctcbDir($0))/vms.sqlite") })
            // The journal: what the old leader committed is kept, the move closed once, by the new leader.
            let journal = try await r.inventory().events(vm: "vm-k")
            #expect(Set(journalBefore.map(\.id)).isSubset(of: Set(journal.map(\.id))))
            #expect(journal.filter { $0.what == "migration-planned" }.count == 1, "\(journal.map(\.what))")
            #expect(journal.filter { $0.what == "migration-transferred" }.count == 1, "\(journal.map(\.what))")
            #expect(journal.filter { ["migration-completed", "migration-recovered-forward", "migration-rolled-back"].contains($0.what) }.count == 1,
                    "\(journal.map(\.what))")

            let events = try await r.store.events(since: 0, host: nil, limit: 100_000)
            // Nothing the dead leader committed is lost.
            #expect(Set(before.map(\.seq)).isSubset(of: Set(events.map(\.seq))))
            #expect(before.contains { $0.kind == "evacuation.migrated" && ($0.detail ?? "").hasPrefix("vm-k") })
            // Nothing is doubled: each state change of host-1 once, the move's migration once.
            let changes = events.filter { $0.host == "host-1" && $0.kind == "state" }.map { "\($0.oldState ?? "") → \($0.newState ?? "")" }
            #expect(changes.filter { $0.hasSuffix("→ evacuating") }.count == 1, "\(changes)")
            #expect(changes.filter { $0.hasSuffix("→ evacuated") }.count == 1, "\(changes)")
            #expect(events.filter { $0.kind == "evacuation.migrated" && ($0.detail ?? "").hasPrefix("vm-k") }.count == 1,
                    "\(events.filter { $0.kind.hasPrefix("evacuation.") || $0.kind.hasPrefix("recovery.") }.map { "\($0.kind) \($0.detail ?? "")" })")
            #expect(try await r.store.evacuations(limit: 10).filter { $0.host == "host-1" }.count == 1)
        }
    }

    /// A leader stopped with SIGTERM gives its lease up and announces it (NOTIFY): a follower that LISTENs takes the
    /// region over at once, one that does not (`--changes off` of the test tool) at its next round. The takeover
    /// times of both (from the SIGTERM until the store shows the follower's lease) are printed.
    @Test func aFollowerTakesAReleasedLeaseAtOnce() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 2, rctcbs: 2) { r in
            var last: LeaderLease?
            var measured: [String] = []
            for listening in [true, false] {
                let serve = ["--lease", "6"], tool = listening ? [] : [try TestBinaries.rctcbHooked(), "--changes", "off"]
                try r.region.startRCTCB(0, serve, executable: tool)
                let first = try await r.waitForLeader("RC-TCB 1 leads", after: last)
                #expect(r.server(holding: first) == 0, "\(first)")
                // Each RC-TCB's log holds all its runs: this round reads what follows.
                let (leaderFrom, followerFrom) = (r.region.rctcbOutput(0).count, r.region.rctcbOutput(1).count)
                try r.region.startRCTCB(1, serve, executable: tool)
                let leader = try #require(r.region.rctcbProcess(0))
                let leaderOutput = { String(r.region.rctcbOutput(0).dropFirst(leaderFrom)) }
                let followerOutput = { String(r.region.rctcbOutput(1).dropFirst(followerFrom)) }
                if listening {
                    try await waitUntilAsync("RC-TCB 2 follows the region's changes", seconds: 60) { followerOutput().contains("following the region's changes") }
                }
                kill(leader.processIdentifier, SIGTERM)
                let stopped = ContinuousClock.now
                var second: LeaderLease?
                let deadline = stopped + .seconds(120)
                while second == nil, ContinuousClock.now < deadline {
                    if let current = try await r.store.currentLease(), current.live, current.lease.epoch > first.epoch { second = current.lease }
                    else { try await Task.sleep(for: .milliseconds(10)) }
                }
                let took = ContinuousClock.now - stopped
                let taken = try #require(second, "no follower took the lease after the leader's SIGTERM")
                #expect(r.server(holding: taken) == 1, "\(taken)")
                measured.append("\(listening ? "with" : "without") LISTEN/NOTIFY \(took)")
                try await waitUntilAsync("the old leader exits", seconds: 60) { !leader.isRunning }
                #expect(leaderOutput().contains("leader lease released"), "\(leaderOutput().suffix(2000))")
                #expect(followerOutput().contains("the leader released its lease") == listening, "\(followerOutput().suffix(2000))")
                r.region.stopRCTCB(1)
                r.region.stopRCTCB(0)
                last = taken
            }
            print("takeover after the leader's SIGTERM (lease 6 s, a round every 2 s): \(measured.joined(separator: "; "))")
        }
    }

    /// A follower keeps its copy of the IVT current from the store's notifications: while the leader judges the agents,
    /// the follower's own state gauges (its `/metrics`, which a follower serves) come to show every host trusted,
    /// though it runs no round of its own. Only the follower listens: the leader's LISTEN connection ends once it leads
    /// (every change then is its own).
    @Test func aFollowerKeepsItsIVTCopyCurrent() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 2, rctcbs: 2) { r in
            try r.region.startRCTCB(0, ["--lease", "6"])
            _ = try await r.waitForLeader("RC-TCB 1 leads")
            try r.region.startRCTCB(1, ["--lease", "6"])
            try await waitUntilAsync("RC-TCB 2 follows the region's changes", seconds: 60) { r.region.rctcbOutput(1).contains("following the region's changes") }
            let dir = r.region.rctcbDir(1)
            let scrape = ["-sS", "--cacert", "\(dir)/region-ca.pem", "--cert", "\(dir)/admin.pem", "--key", "\(dir)/admin.key", "\(r.urls[1])/metrics"]
            #expect(!(try ToolRun.run("curl", scrape).output.contains("smig_hosts{state=\"trusted\"} 2")))
            try r.region.enrolAndStartAgents(via: 0, rctcb: r.urls.joined(separator: ","))
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            try await waitUntilAsync("the follower's gauges show both hosts trusted", seconds: 60) {
                try ToolRun.run("curl", scrape).output.contains("smig_hosts{state=\"trusted\"} 2")
            }
            #expect(r.server(holding: try #require(try await r.store.currentLease()).lease) == 0, "the follower still follows")
            let listeners = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'"
            try await waitUntilAsync("only the follower listens", seconds: 60) { try psqlValue(r.cluster.url, listeners) == "1" }
            try await Task.sleep(for: .seconds(1))
            #expect(try psqlValue(r.cluster.url, listeners) == "1")
            // The one listening connection is the follower's: its client port is a socket of RC-TCB 2's process.
            let port = try psqlValue(r.cluster.url, "SELECT client_port FROM pg_stat_activity WHERE query LIKE 'LISTEN %'")
            let follower = try #require(r.region.rctcbProcess(1)).processIdentifier
            let owner = try ToolRun.run("ss", ["-tnpH", "state", "established", "( sport = :\(port) )"]).output
            #expect(owner.contains("pid=\(follower),"), "port \(port): \(owner)")
        }
    }

    /// The leader stopped (SIGSTOP) for 15 s, far longer than its 2 s lease: a follower takes over and the agents follow it; woken
    /// up (SIGCONT), the old leader's renewal is refused, it acts on nothing and ends with `store.fenced`.
    @Test func aPausedLeaderIsFencedAndStepsDown() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 2, rctcbs: 2) { r in
            try r.region.startRCTCB(0, ["--lease", "2"])
            let first = try await r.waitForLeader("RC-TCB 1 leads")
            try r.region.startRCTCB(1, ["--lease", "2"])
            try r.region.enrolAndStartAgents(via: 0, rctcb: r.urls.joined(separator: ","))
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            let old = try #require(r.region.rctcbProcess(0))

            kill(old.processIdentifier, SIGSTOP)
            let stopped = ContinuousClock.now
            let second = try await r.waitForLeader("RC-TCB 2 takes over", after: first)
            #expect(r.server(holding: second) == 1 && second.epoch > first.epoch, "\(second)")
            // The agents follow the new leader: their quotes are judged again.
            let paused = Date()
            try await r.wait("judged under the new leader") { rows in rows.allSatisfy { $0.state == .trusted && ($0.lastQuoteAt ?? .distantPast) > paused } }
            // Stopped for 15 s in all, however quickly the takeover went: past its lease many times over (a renewal
            // round of the old leader would be due 20 times).
            let stoppedFor = ContinuousClock.now - stopped
            if stoppedFor < .seconds(15) { try await Task.sleep(for: .seconds(15) - stoppedFor) }

            kill(old.processIdentifier, SIGCONT)
            try await waitUntilAsync("the old leader steps down", seconds: 60) { !old.isRunning }
            #expect(old.terminationStatus != 0)
            #expect(r.region.rctcbOutput(0).contains("stepping down") && r.region.rctcbOutput(0).contains("store.fenced"), "\(r.region.rctcbOutput(0).suffix(2000))")
            let now = try #require(try await r.store.currentLease())
            #expect(now.live && now.lease == second)
            // The region goes on under the new leader.
            let woke = Date()
            try await r.wait("still judged") { rows in rows.allSatisfy { $0.state == .trusted && ($0.lastQuoteAt ?? .distantPast) > woke } }
            // The operator, given both RC-TCBs, is answered by the leader; asked of the follower alone, told who leads.
            try r.region.startRCTCB(0, ["--lease", "2"])
            let ivt = try ToolRun.run(r.options.binary, ["ivt", "--rctcb", r.urls.joined(separator: ","), "--dir", r.region.rctcbDir(0), "--json"])
            #expect(ivt.status == 0 && ivt.output.contains("host-1"), "\(ivt.output)")
            let follower = try ToolRun.run(r.options.binary, ["ivt", "--rctcb", r.urls[0], "--dir", r.region.rctcbDir(0), "--json"])
            #expect(follower.status != 0 && follower.output.contains("rctcb.not-leader"), "\(follower.output)")
        }
    }

    /// An enrolment's challenge lives only in the leader that issued it. The leader SIGKILLs itself the moment the
    /// agent's completion reaches it (before it is checked): `agent enrol`, given every RC-TCB's URL, gets no answer,
    /// waits for the follower to lead, and enrols there in a second round.
    @Test func anEnrolmentWhoseLeaderDiedBeforeItsCompletionEnrolsWithTheNextLeader() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 2, rctcbs: 2) { r in
            let common = ["--lease", "2"]
            try r.region.startRCTCB(0, common, executable: [try TestBinaries.rctcbHooked(), "--crash-after", "enrolment.completing"])
            let first = try await r.waitForLeader("RC-TCB 1 leads")
            #expect(r.server(holding: first) == 0, "\(first)")
            try r.region.startRCTCB(1, common)
            let host = r.region.hosts[0]
            let output = try r.region.run(["agent", "enrol", "--rctcb", r.urls.joined(separator: ","),
                                                     "--ca", "\(r.region.rctcbDir(0))/region-ca.pem", "--host-id", host.id,
                                                     "--tcti", host.tcti, "--state-dir", host.stateDirectory])

            let leader = try #require(r.region.rctcbProcess(0))
            #expect(!leader.isRunning && leader.terminationReason == .uncaughtSignal && leader.terminationStatus == SIGKILL)
            #expect(output.contains("enrolment round 1 ended with transport.unreachable"), "\(output)")
            let next = try #require(try await r.store.currentLease())
            #expect(next.live && next.lease.epoch > first.epoch && r.server(holding: next.lease) == 1, "\(next)")
            // Enrolled once, by the follower that leads now, with the certificate on the host.
            let row = try #require(try await r.rows().first { $0.host == host.id })
            #expect(row.akName != nil && row.enrolledAt != nil && !row.revoked, "\(row)")
            let events = try await r.store.events(since: 0, host: host.id, limit: 1_000)
            #expect(events.filter { $0.kind == "enrolled" }.count == 1, "\(events.map { "\($0.kind) \($0.code ?? "")" })")
            #expect(events.filter { $0.kind == "enrol-refused" }.isEmpty, "\(events.map { "\($0.kind) \($0.code ?? "")" })")
            let certificate = try String(contentsOfFile: "\(host.stateDirectory)/tls.pem", encoding: .utf8)
            #expect(certificate.contains("BEGIN CERTIFICATE"))
        }
    }
}
