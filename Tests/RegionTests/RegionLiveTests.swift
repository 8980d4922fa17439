import Foundation
import Swtpm
import RegionProtocol
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing
import TPM

/// The live tests' region: ``LoopbackRegion`` with a file per host as its hypervisor, the live tests' policy and
/// agent timing, and a thin reading side (the IVT's rows, waiting for them). Every process and file it brings up is
/// LoopbackRegion's own.
extension LoopbackRegion {
    /// A whole region on loopback, as an operator runs it: a swtpm per host, real `agent run` and `rctcb serve`
    /// processes of the real binary, mutual TLS, the SQLite IVT; every host trusted-to-be (enrolled, its agent
    /// running). Quote freshness is max(30 s, 3 × the challenge interval).
    ///
    /// `netns`: the last host runs in this network namespace (its swtpm, enrolment and agent), reached over the
    /// namespace's veth; the other hosts are then reached at the veth's root-side address. `ekCAs`: more EK CAs
    /// for `rctcb init`; `hostKeys(id, stateDir)`: more keys of a host entry (after `tpm provision`);
    /// `beforeEnrol`: runs once the RC-TCB serves, before any host enrols. `agentKeys(i)`: more keys of host i's agent.json.
    /// `serveExtra`: more arguments for `rctcb serve`.
    static func live(hosts n: Int, push: Bool = true, challengeInterval: Double = 1, policyExtra: String = "", maxQuoteAge: String = "10s",
                     netns: NetworkNamespace? = nil, ekCAs: [String] = [], hostKeys: (String, String) throws -> String = { _, _ in "" },
                     beforeEnrol: (LoopbackRegion) throws -> Void = { _ in }, agentKeys: (Int) -> [String: Any] = { _ in [:] },
                     serveExtra: [String] = []) async throws -> LoopbackRegion {
        var options = Options(binary: try TestBinaries.smigAttest())
        options.hosts = n
        options.push = push
        options.challengeInterval = challengeInterval
        options.measurementInterval = 0.3
        options.hypervisor = .file
        options.vmMemoryMiB = 32
        options.regionName = "live-test"
        options.quoteFreshness = max(30, Int(challengeInterval) * 3)
        options.policyTail = "targets: {require-state: trusted, max-quote-age: \(maxQuoteAge), rechallenge-before-move: true, reattest-after-move: true, "
            + "prefer: least-loaded, exclude: []}\n" + policyExtra
        options.extraEKCAs = ekCAs
        options.serveExtra = serveExtra
        options.namespace = netns.map { Namespace(enter: $0.exec, hostAddress: $0.nsAddress, rootAddress: $0.rootAddress) }
        let r = try LoopbackRegion(options)
        try await r.prepare(hostKeys: hostKeys)
        try r.startRCTCB(0)
        try beforeEnrol(r)
        try r.enrolAndStartAgents(via: 0, agentKeys: agentKeys)
        return r
    }

    func rows() throws -> [IVTRow] { try store().rows() }

    func state(_ id: String) throws -> HostState? { try rows().first { $0.host == id }?.state }

    func wait(_ what: String, seconds: Double = 180, _ condition: ([IVTRow]) -> Bool) async throws {
        do { try await waitUntilAsync(what, seconds: seconds) { condition(try rows()) } } catch {
            let table = ((try? rows()) ?? []).map { "\($0.host) \($0.state) \($0.failureCode ?? "") \($0.failureDetail ?? "")" }.joined(separator: "\n")
            throw RegionFixtureFailure(description: "\(error)\nIVT:\n\(table)\nRC-TCB log:\n\(rctcbOutput(0).suffix(3000))")
        }
    }
}

@Suite("A live region", .serialized)
struct RegionLiveTests {
    @Test func fiveHostsTrustedTamperDetectedSilenceIsUnreachable() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 5)
        try await r.wait("all trusted") { rows in rows.count == 5 && rows.allSatisfy { $0.state == .trusted } }

        // Who measured whom: the ring (after the RC-TCB's cold-start challenges) takes over.
        try await r.wait("ring reports") { rows in rows.allSatisfy { ($0.measuredBy ?? "rc-tcb") != "rc-tcb" && $0.measuredBy != $0.host } }
        let ring = try JSONDecoder().decode(RingView.self, from: Data(try r.run(["ring", "--rctcb", r.url, "--dir", r.rctcbDir, "--json"]).utf8))
        #expect(ring.links.count == 5 && ring.links.allSatisfy { $0.measurer != $0.target })
        #expect(Set(ring.links.map(\.target)).count == 5)

        // The operator's API needs the admin certificate: none, or an agent's, is refused.
        let anonymous = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: nil, key: nil, peer: .rctcb)
        let anonymousError = await #expect(throws: RegionClient.Failure.self, "IVT served without a client certificate") {
            try await anonymous.get("\(r.url)/v1/ivt", as: [IVTRow].self)
        }
        #expect(anonymousError?.code == "auth.no-client-certificate")
        await anonymous.shutdown()
        let agentCert = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.hosts[0].stateDirectory)/tls.pem", key: "\(r.hosts[0].stateDirectory)/tls.key", peer: .rctcb)
        let agentError = await #expect(throws: RegionClient.Failure.self, "IVT served to an agent certificate") {
            try await agentCert.get("\(r.url)/v1/ivt", as: [IVTRow].self)
        }
        #expect(agentError?.code == "auth.forbidden")
        await agentCert.shutdown()

        // Tampering with host-3's hypervisor: measured, extended, pushed, challenged, untrusted — naming it.
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[2].hypervisorFile ?? ""))
        try await r.wait("host-3 untrusted", seconds: 90) { rows in rows.first { $0.host == "host-3" }?.state == .untrusted }
        let bad = try #require(try r.rows().first { $0.host == "host-3" })
        #expect(bad.failureCode == "golden.digest-not-allowed", "\(bad)")
        #expect(bad.failureDetail?.contains("hypervisor-3.bin") == true, "\(bad.failureDetail ?? "")")
        // The untrusted host measures nobody and is measured by nobody in the ring.
        let after = try JSONDecoder().decode(RingView.self, from: Data(try r.run(["ring", "--rctcb", r.url, "--dir", r.rctcbDir, "--json"]).utf8))
        #expect(!after.links.contains { $0.measurer == "host-3" })

        // Silence: host-4's agent stops → unreachable, never untrusted; it comes back → trusted. host-3's agent stops
        // too: a host proven bad stays untrusted however long it is silent (the RC-TCB keeps challenging it).
        r.stopAgent(3)
        r.stopAgent(2)
        let silentSince = try r.store().lastEventSeq()
        try await r.wait("host-4 unreachable", seconds: 90) { rows in rows.first { $0.host == "host-4" }?.state == .unreachable }
        try r.startAgent(3)
        try await r.wait("host-4 trusted again", seconds: 90) { rows in rows.first { $0.host == "host-4" }?.state == .trusted }
        // The RC-TCB's own challenges of the silent host-3 go unanswered (its verdict), and its row stays untrusted.
        try await r.wait("host-3 challenged while silent", seconds: 90) { rows in rows.first { $0.host == "host-3" }?.verdictState == .unreachable }
        #expect(try r.state("host-3") == .untrusted)
        #expect(try r.store().events(since: silentSince).filter { $0.host == "host-3" && $0.kind == "state" }.isEmpty)

        // Revocation: host-5's certificate is refused at once.
        try r.run(["rctcb", "revoke", "host-5", "--dir", r.rctcbDir])
        let revoked = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.hosts[4].stateDirectory)/tls.pem", key: "\(r.hosts[4].stateDirectory)/tls.key", peer: .rctcb)
        let revokedError = await #expect(throws: RegionClient.Failure.self, "revoked host served") {
            try await revoked.post("\(r.url)/v1/ring/assignment", [String: String](), as: RingAssignment.self)
        }
        #expect(revokedError?.code == "enrol.revoked")
        await revoked.shutdown()
        let events = try r.store().events()
        #expect(events.contains { $0.host == "host-3" && $0.newState == "untrusted" && $0.code == "golden.digest-not-allowed" })

        // Prometheus metrics: attestations by result, failures by code, latency, ring size, hosts by state.
        // The state gauges follow the IVT at the RC-TCB's scheduling pace (the revocation came from another process).
        // Only to the admin certificate: without a client certificate the answer is a coded refusal.
        let unauthenticated = try ToolRun.run("curl", ["-sS", "--cacert", "\(r.rctcbDir)/region-ca.pem", "\(r.url)/metrics"])
        #expect(unauthenticated.output.contains("auth.no-client-certificate") && !unauthenticated.output.contains("smig_"), "\(unauthenticated.output)")
        let scrape = ["-sS", "--cacert", "\(r.rctcbDir)/region-ca.pem", "--cert", "\(r.rctcbDir)/admin.pem", "--key", "\(r.rctcbDir)/admin.key", "\(r.url)/metrics"]
        var metrics = try ToolRun.run("curl", scrape)
        let deadline = Date().addingTimeInterval(10)
        while !metrics.output.contains("smig_hosts{state=\"untrusted\"} 2.0"), Date() < deadline {
            try await Task.sleep(for: .milliseconds(200))
            metrics = try ToolRun.run("curl", scrape)
        }
        #expect(metrics.status == 0, "\(metrics.output)")
        for series in ["smig_attestations_total{result=\"ok\"}", "smig_attestation_failures_total{code=\"golden.digest-not-allowed\"}",
                       "smig_attestation_duration_seconds", "smig_ring_links", "smig_hosts{state=\"untrusted\"} 2.0"] {
            #expect(metrics.output.contains(series), "no \(series) in /metrics")
        }
    }

    /// The push path on its own: ring challenges every 60 s and a quote freshness of 180 s, so within the test
    /// only the agent's "measurements changed" notice (and the RC-TCB's direct challenge it triggers) can find the
    /// tampering. The row names the RC-TCB as the measurer and the event comes before the first ring round could.
    /// The latency is printed here and measured properly by `bench response` (push p50/p99).
    @Test func pushAloneDetectsATamperedHypervisor() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3, push: true, challengeInterval: 60)
        // The RC-TCB's cold-start challenges bring every host to trusted; the ring then rests for 60 s.
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        let since = try r.store().lastEventSeq()
        let tamperedAt = Date()
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[1].hypervisorFile ?? ""))
        try await r.wait("host-2 untrusted by the push path", seconds: 50) { rows in rows.first { $0.host == "host-2" }?.state == .untrusted }
        let row = try #require(try r.rows().first { $0.host == "host-2" })
        #expect(row.measuredBy == "rc-tcb", "found by \(row.measuredBy ?? "-"), not by the RC-TCB's challenge after a notice")
        #expect(row.failureCode == "golden.digest-not-allowed")
        #expect(row.failureDetail?.contains("hypervisor-2.bin") == true, "\(row.failureDetail ?? "")")
        let event = try #require(try r.store().events(since: since).first { $0.host == "host-2" && $0.newState == "untrusted" })
        let latency = event.at.timeIntervalSince(tamperedAt)
        #expect(latency < 60, "detected after \(latency) s: no faster than a ring round")
        print("push path: file written → host-2 untrusted in \(Int(latency * 1000)) ms (agent measurement interval 0.3 s)")
        // No other host changed: the notice concerned host-2 only.
        #expect(try r.rows().filter { $0.host != "host-2" }.allSatisfy { $0.state == .trusted })
    }

    /// Without pushes the ring's challenges find the tampering; a SIGKILLed RC-TCB loses no IVT row or audit
    /// event and resumes on restart.
    @Test func challengeOnlyPathAndAnRCTCBCrash() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3, push: false)
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        let rowsBefore = try r.rows()
        let eventsBefore = try r.store().events()
        r.stopRCTCB(0, signal: SIGKILL)
        #expect(try r.rows().map(\.host) == rowsBefore.map(\.host))
        #expect(try r.store().events().count == eventsBefore.count)
        try r.startRCTCB(0)
        // The ring resumes: reports keep arriving after the restart.
        let restartedAt = Date()
        try await r.wait("reports after the restart", seconds: 90) { rows in rows.allSatisfy { ($0.lastQuoteAt ?? .distantPast) > restartedAt && $0.state == .trusted } }
        #expect(try r.store().events().prefix(eventsBefore.count).map(\.seq) == eventsBefore.map(\.seq))

        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[1].hypervisorFile ?? ""))
        try await r.wait("host-2 untrusted without a push", seconds: 90) { rows in rows.first { $0.host == "host-2" }?.state == .untrusted }
        #expect(try r.rows().first { $0.host == "host-2" }?.failureCode == "golden.digest-not-allowed")
    }
}
