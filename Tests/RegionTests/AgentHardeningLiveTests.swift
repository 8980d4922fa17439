import Foundation
import NIOCore
import RegionListener
import RegionProtocol
import RegionLab
import RegionTCB
import SmigTestSupport
import Synchronization
import Testing
import TPMWire

/// The agents' quote endpoint and both listeners against hostile peers that hold valid region certificates, in a
/// live region (swtpm, `agent run` and `rctcb serve` processes of the real binary, mutual TLS, the SQLite IVT).
@Suite("Agents and listeners against hostile peers", .serialized)
struct AgentHardeningLiveTests {
    static func challengeJSON() -> String {
        var rng = SystemRandomNumberGenerator()
        let nonce = (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        return String(decoding: RegionJSON.encode(QuoteChallenge(nonce: Hex.encode(nonce), pcrSelection: "sha256:0-7,15")), as: UTF8.self)
    }

    static func identity(_ r: LoopbackRegion, host i: Int) throws -> RawTLSPeer.Identity {
        try RawTLSPeer.Identity(ca: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.hosts[i].stateDirectory)/tls.pem", key: "\(r.hosts[i].stateDirectory)/tls.key")
    }

    /// A revoked host keeps its certificate and key; once the other agents learned the revocation from the RC-TCB,
    /// they refuse it with `quote.peer-revoked`, while the RC-TCB's own challenges go on being answered.
    @Test func aRevokedHostsCertificateIsRefusedByTheOtherAgents() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3)
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        let quoteURL = "https://127.0.0.1:\(r.hosts[0].agentPort)/v1/quote"
        let asHost3 = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.hosts[2].stateDirectory)/tls.pem",
                                       key: "\(r.hosts[2].stateDirectory)/tls.key", peer: .agent, timeout: .seconds(30))
        let challenge = try RegionJSON.decode(QuoteChallenge.self, from: Data(Self.challengeJSON().utf8))

        // Enrolled and unrevoked, host-3's certificate is served (it is a ring neighbour's).
        let before: EvidenceBundleHost = try await asHost3.post(quoteURL, challenge)
        #expect(before.hostId == "host-1")

        try r.run(["rctcb", "revoke", "host-3", "--dir", r.rctcbDir])
        // What the agents learn from the RC-TCB: the enrolled hosts with their AK Names, and the revoked host; asked
        // again with the version, just the version.
        let asHost1 = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.hosts[0].stateDirectory)/tls.pem",
                                       key: "\(r.hosts[0].stateDirectory)/tls.key", peer: .rctcb, timeout: .seconds(30))
        let peers: RegionPeers = try await asHost1.get("\(r.url)/v1/peers")
        #expect(peers.revoked == ["host-3"])
        #expect(peers.intervals == RegionIntervals(measurement: 1, challenge: 1), "the region policy's intervals, in every answer")
        #expect(peers.enrolled?.keys.sorted() == ["host-1", "host-2"])
        #expect(peers.enrolled?["host-1"] == (try r.rows().first { $0.host == "host-1" }?.akName))
        // (The table may change in between, e.g. host-3's row after the revocation: then the answer is the new list.)
        var known = peers
        try await waitUntilAsync("GET /v1/peers answers a current version with the version alone", seconds: 60) {
            let answer: RegionPeers = try await asHost1.get("\(r.url)/v1/peers?since=\(known.version)")
            if answer.version == known.version { return answer == RegionPeers(version: known.version, intervals: peers.intervals) }
            #expect(answer.version > known.version && answer.enrolled != nil && answer.revoked == ["host-3"], "\(answer)")
            known = answer
            return false
        }
        await asHost1.shutdown()
        var last = "served"
        try await waitUntilAsync("host-1's agent refuses the revoked host-3's certificate", seconds: 90) {
            do {
                let _: EvidenceBundleHost = try await asHost3.post(quoteURL, challenge)
                last = "served"
            } catch let error as RegionClient.Failure {
                last = "\(error.code) (HTTP \(error.status.map(String.init) ?? "-"))"
                if error.code == "quote.peer-revoked" { return true }
            }
            try await Task.sleep(for: .milliseconds(500))
            return false
        }
        #expect(last.hasPrefix("quote.peer-revoked") && last.contains("403"), "\(last)")
        // Refused every time from now on, however often it asks.
        for _ in 0..<3 {
            let again = await #expect(throws: RegionClient.Failure.self) {
                let _: EvidenceBundleHost = try await asHost3.post(quoteURL, challenge)
            }
            #expect(again?.code == "quote.peer-revoked")
        }
        await asHost3.shutdown()
        // The RC-TCB's challenges of host-1 are still answered.
        let since = try r.store().lastEventSeq()
        try await r.wait("host-1 attested again after the revocation") { rows in
            rows.first { $0.host == "host-1" }.map { $0.state == .trusted && ($0.lastQuoteAt ?? .distantPast) > Date().addingTimeInterval(-5) } ?? false
        }
        #expect(try r.store().events(since: since).filter { $0.host == "host-1" }.isEmpty)
    }

    /// One valid, trusted peer (host-2's certificate, from another address) floods host-1's agent with 320
    /// concurrent quote requests, wave after wave. Its excess is refused with `quote.rate-limited`, and the RC-TCB's
    /// direct challenges of host-1 (asked for by change notices during the flood) still succeed: host-1 stays
    /// `trusted` throughout and the audit trail has no `unreachable` for it.
    @Test func aQuoteFloodFromOnePeerIsLimitedAndTheRCTCBIsStillAnswered() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3)
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        let since = try r.store().lastEventSeq()
        let attacker = try Self.identity(r, host: 1)
        let port = r.hosts[0].agentPort
        let body = Self.challengeJSON()
        let floodStart = Date()
        let deadline = floodStart.addingTimeInterval(25)

        async let flood: [String: Int] = {
            var tally: [String: Int] = [:]
            while Date() < deadline {
                await withTaskGroup(of: String?.self) { group in
                    for _ in 0..<320 {
                        group.addTask { await RawTLSPeer.request(port: port, identity: attacker, path: "/v1/quote", body: body) }
                    }
                    for await answer in group {
                        let outcome = switch answer {
                        case nil: "connection refused"
                        case let text? where text.hasPrefix("HTTP/1.1 200"): "served"
                        case let text? where text.hasPrefix("HTTP/1.1 429") && text.contains("\"quote.rate-limited\""): "quote.rate-limited"
                        case let text?: "other: \(text.prefix(12)) \(text.range(of: "\"code\":\"").map { String(text[$0.upperBound...].prefix(40)) } ?? "")"
                        }
                        tally[outcome, default: 0] += 1
                    }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return tally
        }()

        // Meanwhile host-1 tells the RC-TCB its measurements changed: the RC-TCB challenges it directly, at once.
        let asHost1 = try RegionClient(caFile: "\(r.rctcbDir)/region-ca.pem", certificate: "\(r.hosts[0].stateDirectory)/tls.pem",
                                       key: "\(r.hosts[0].stateDirectory)/tls.key", peer: .rctcb, timeout: .seconds(60))
        var direct: [Double] = []
        var states: Set<String> = []
        var notes: [String] = []
        try await Task.sleep(for: .seconds(2))
        while Date() < deadline {
            let sent = Date()
            do {
                let _: [String: String] = try await asHost1.post("\(r.url)/v1/notices", ChangeNotice(changed: ["flood-probe"], at: sent))
            } catch {
                notes.append("\(error)")
            }
            let took = Date().timeIntervalSince(sent)
            if let row = try r.rows().first(where: { $0.host == "host-1" }) {
                states.insert(row.state.rawValue)
                if row.measuredBy == "rc-tcb", (row.lastQuoteAt ?? .distantPast) >= sent.addingTimeInterval(-1) { direct.append(took) }
            }
            try await Task.sleep(for: .seconds(2))
        }
        await asHost1.shutdown()
        let tally = await flood
        print("flood of host-1's agent: \(tally.sorted { $0.key < $1.key }); RC-TCB direct challenges during it: \(direct.map { String(format: "%.2f s", $0) })")

        #expect((tally["quote.rate-limited"] ?? 0) > 0, "\(tally)")
        #expect(tally.keys.allSatisfy { !$0.hasPrefix("other") }, "\(tally)")
        #expect(!direct.isEmpty, "no direct challenge of host-1 verified during the flood; notices: \(notes)")
        #expect(states == ["trusted"], "host-1 was \(states) during the flood")
        #expect(try r.state("host-1") == .trusted)
        let host1Events = try r.store().events(since: since).filter { $0.host == "host-1" }
        #expect(!host1Events.contains { $0.newState == "unreachable" }, "\(host1Events)")
        // No change of host-1's state at all (a ring report about it overtaken by a direct challenge is refused as
        // stale, an audit event that changes nothing).
        let host1Changes: [IVTEvent] = host1Events.filter { (e: IVTEvent) -> Bool in e.kind == "state" }
        #expect(host1Changes.isEmpty, "\(host1Events)")
    }

    /// A TCP connection that never starts TLS, and a request that announces a 1 GB body and never sends it, are
    /// closed by the server — the RC-TCB's listener and an agent's — once their time-out passes.
    @Test func bothListenersCloseSilentHandshakesAndBodiesThatNeverCome() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 2)
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        let peer = try Self.identity(r, host: 1)
        var probes: [(String, RawTLSPeer)] = []
        for (listener, port, path) in [("RC-TCB", r.rctcbPorts[0], "/v1/enrol/begin"), ("host-1's agent", r.hosts[0].agentPort, "/v1/quote")] {
            // Not refused on sight: the server waits for each (checked as each is made: on a loaded machine making
            // the next may take longer than the first one's time-out).
            let silent = try await RawTLSPeer.connect(port: port, identity: nil)
            #expect(silent.channel.isActive, "\(listener): a connection that never starts TLS was closed at once")
            probes.append(("\(listener): a connection that never starts TLS", silent))
            let slow = try await RawTLSPeer.connect(port: port, identity: peer)
            #expect(await slow.handshake(within: 30) == .completed, "\(listener): the handshake did not complete")
            try await slow.send("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{")
            #expect(slow.channel.isActive, "\(listener): a request whose body never comes was closed at once")
            probes.append(("\(listener): a 1 GB body announced, one byte sent", slow))
        }
        // Closed by the server (EOF), well within a generous wait (the default time-outs are 10 s and 30 s).
        await withTaskGroup(of: (String, Bool).self) { group in
            for (name, probe) in probes { group.addTask { (name, await probe.closedByServer(within: 150)) } }
            for await (name, closed) in group { #expect(closed, "\(name): still open after 150 s") }
        }
        #expect(probes[0].1.received.isEmpty && probes[2].1.received.isEmpty)
        #expect(try r.rows().allSatisfy { $0.state == .trusted })
    }

    /// More connections from one address than the listener's cap: the excess are closed as they are accepted, the
    /// admitted ones stay open, and a connection given back makes room for another.
    @Test func connectionsOverTheCapFromOneAddressAreClosed() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 2)
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        let peer = try Self.identity(r, host: 1)
        for (listener, port, cap) in [("RC-TCB", r.rctcbPorts[0], ListenerLimits.rctcb.maxConnectionsPerAddress),
                                      ("host-1's agent", r.hosts[0].agentPort, ListenerLimits.agent.maxConnectionsPerAddress)] {
            var admitted: [RawTLSPeer] = []
            for i in 0..<cap {
                let p = try await RawTLSPeer.connect(port: port, identity: peer)
                let h = await p.handshake(within: 30)
                #expect(h == .completed, "\(listener): connection \(i + 1) of \(cap) was \(h)")
                admitted.append(p)
            }
            for i in 0..<3 {
                let p = try await RawTLSPeer.connect(port: port, identity: peer)
                let h = await p.handshake(within: 30)
                #expect(h == .closed, "\(listener): connection \(cap + i + 1) over the cap of \(cap) was \(h)")
                p.close()
            }
            #expect(admitted.allSatisfy { $0.channel.isActive }, "\(listener): an admitted connection was closed")
            // One given back: room for one more.
            admitted[0].close()
            try await waitUntilAsync("\(listener) admits a connection again", seconds: 30) {
                let p = try await RawTLSPeer.connect(port: port, identity: peer)
                if await p.handshake(within: 30) == .completed {
                    admitted[0] = p
                    return true
                }
                p.close()
                return false
            }
            for p in admitted { p.close() }
        }
        #expect(try r.rows().allSatisfy { $0.state == .trusted })
    }
}

/// Enough of an evidence bundle to see whose it is.
struct EvidenceBundleHost: Decodable {
    var hostId: String
}
