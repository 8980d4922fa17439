import AsyncHTTPClient
import Benchmarks
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import RegionListener
import RegionProtocol
import RegionTCB
import SmigTestSupport
import Synchronization
import Testing

/// An enrolled agent is a stranger with a valid certificate, and anyone may ask to enrol: neither may spend the
/// RC-TCB's CPU at will.
@Suite("Request budgets")
struct RequestBudgetTests {
    /// The attacker is sim-00001, an enrolled and trusted host of the region with its own valid agent certificate,
    /// asking the real RC-TCB service (mutual TLS) for ring assignments as fast as it can.
    @Test func anAgentFloodingTheRCTCBIsRefusedAndNobodyElseIs() async throws {
        // Nonces valid for an hour: the count of those issued below is not cut short by their expiry on a loaded machine.
        let bench = try BenchmarkRegion(hosts: 3, nonceLifetime: 3600, logger: Logger(label: "test"))
        defer { bench.destroy() }
        try await bench.warmUp()
        var service = try RCTCBService(directory: bench.directory, region: bench.region, logger: Logger(label: "test"))
        // Five at once, then one per 10,000 s: no token comes back while the test runs, even in a full run that leaves
        // this test without a thread for minutes between its requests.
        service.agentRequests = RequestBudget(.init(perSecond: 0.0001, burst: 5))
        let port = PortBox()
        let app = try service.application(host: "127.0.0.1", port: 0, onRunning: { p in port.set(p) })
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        try await waitUntilAsync("the service listens", seconds: 600) { port.get() != nil }
        let url = "https://127.0.0.1:\(try #require(port.get()))" + RCTCBRoutes.ringAssignment.path

        let pool = RegionIdentityPool(trusting: bench.caCertificate, timeout: .seconds(120))
        func identity(_ host: String) throws -> TLSConfiguration {
            let id = try #require(bench.identities[host])
            return pool.identity(chain: id.chain, key: id.key)
        }
        let attacker = try identity("sim-00001"), other = try identity("sim-00002")
        func ask(_ tls: TLSConfiguration) async -> Result<RingAssignment, RegionClient.Failure> {
            do throws(RegionClient.Failure) { return .success(try await pool.post(url, Data("{}".utf8), as: tls)) } catch { return .failure(error) }
        }
        var answered = 0
        var refusals: [RegionClient.Failure] = []
        for _ in 0..<12 {
            switch await ask(attacker) {
            case .success(let a):
                #expect(a.target != nil)
                answered += 1
            case .failure(let e):
                refusals.append(e)
            }
        }
        #expect(answered == 5)
        #expect(refusals.count == 7)
        #expect(refusals.allSatisfy { $0.code == "request.rate-limited" && $0.status == 429 }, "\(refusals.map(\.code))")
        // The refused requests reached nothing: only the five admitted ones were given a nonce.
        #expect(await bench.region.openNonces(of: "sim-00001") == 5)

        // Another host's requests are its own.
        let b = try await ask(other).get()
        #expect(b.target != nil)
        #expect(await bench.region.openNonces(of: "sim-00002") == 1)

        // A refusal says when to come back.
        var config = HTTPClient.Configuration(tlsConfiguration: attacker)
        config.httpVersion = .http1Only
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.body = .bytes(ByteBuffer(string: "{}"))
        let response = try await client.execute(request, timeout: .seconds(120))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 16))
        try await client.shutdown()
        await pool.shutdown()
        #expect(response.status.code == 429)
        #expect(response.headers["retry-after"] == ["1"])
        #expect(body.contains("request.rate-limited") && body.contains("sim-00001"))
    }

    /// The attacker holds no certificate: anyone may ask to enrol. It asks the real RC-TCB service (TLS, as an agent
    /// that has not enrolled yet) to enrol a host as fast as it can, from 127.0.0.1.
    @Test func anEnrolmentFloodFromOneAddressIsRefusedAndNobodyElseIs() async throws {
        let bench = try BenchmarkRegion(hosts: 3, logger: Logger(label: "test"))
        defer { bench.destroy() }
        try await bench.warmUp()
        var service = try RCTCBService(directory: bench.directory, region: bench.region, logger: Logger(label: "test"))
        // Three at once, then one per 10,000 s: no token comes back while the test runs (as above).
        service.enrolmentRequests = RequestBudget(.init(perSecond: 0.0001, burst: 3), metric: RequestBudget.enrolmentMetric)
        let port = PortBox()
        let app = try service.application(host: "127.0.0.1", port: 0, onRunning: { p in port.set(p) })
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        try await waitUntilAsync("the service listens", seconds: 600) { port.get() != nil }
        let base = "https://127.0.0.1:\(try #require(port.get()))"
        let request = EnrolmentRequest(hostId: "host-stranger", ekPublic: "AA==", ekCertificate: "AA==", platformCertificate: nil,
                                       akPublic: "AA==", tlsPublicKey: "-")
        let body = try JSONEncoder().encode(request)

        let pool = RegionIdentityPool(trusting: bench.caCertificate, timeout: .seconds(120))
        var anonymous = TLSConfiguration.makeClientConfiguration()
        anonymous.trustRoots = .certificates([bench.caCertificate])
        func ask() async -> Result<EnrolmentChallenge, RegionClient.Failure> {
            do throws(RegionClient.Failure) {
                return .success(try await pool.post(base + RCTCBRoutes.enrolBegin.path, body, as: anonymous))
            } catch { return .failure(error) }
        }
        var codes: [String] = []
        for _ in 0..<10 {
            if case .failure(let e) = await ask() { codes.append(e.code) }
        }
        // The first three reached enrolment and were refused as what they are; the other seven were not looked at.
        #expect(codes == Array(repeating: "enrol.unknown-host", count: 3) + Array(repeating: "request.rate-limited", count: 7), "\(codes)")
        // So only three refusals were audited.
        let audited = try await bench.region.store.events(since: 0, host: nil, limit: 1000).filter { $0.kind == "enrol-refused" }
        #expect(audited.map(\.count).reduce(0, +) == 3, "\(audited)")

        // An enrolled agent from the same address is counted by its certificate, not its address.
        let id = try #require(bench.identities["sim-00002"])
        let assignment: RingAssignment = try await pool.post(base + RCTCBRoutes.ringAssignment.path, Data("{}".utf8),
                                                             as: pool.identity(chain: id.chain, key: id.key))
        #expect(assignment.target != nil)

        // Another address has its own budget: its request reaches enrolment.
        let peer = try await RawTLSPeer.connect(port: try #require(port.get()), from: "127.0.0.2",
                                                identity: try .init(ca: bench.directory.caCertificate))
        #expect(await peer.handshake(within: 120) == .completed)
        let text = String(decoding: body, as: UTF8.self)
        try await peer.send("POST \(RCTCBRoutes.enrolBegin.path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n\(text)")
        #expect(await peer.closedByServer(within: 120))
        let answer = String(decoding: peer.record.bytes.withLock { $0 }, as: UTF8.self)
        #expect(answer.contains("enrol.unknown-host") && !answer.contains("429"), "\(answer)")
        await pool.shutdown()
    }

    /// Callers without a certificate are told apart by address: an IPv6 address by its /64, an IPv4 address mapped
    /// into IPv6 as itself.
    @Test func addressesAreCountedAsOnePartyHoldsThem() throws {
        func key(_ ip: String) throws -> String { PeerAddressKey.key(of: try SocketAddress(ipAddress: ip, port: 443)) }
        #expect(try key("192.0.2.7") == "192.0.2.7")
        #expect(try key("192.0.2.7") != key("192.0.2.8"))
        #expect(try key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff"))
        #expect(try key("2001:db8:1:2::1") == "2001:db8:1:2::/64")
        #expect(try key("2001:db8:1:3::1") != key("2001:db8:1:2::1"))
        #expect(try key("::ffff:192.0.2.7") == "192.0.2.7")
        #expect(PeerAddressKey.key(of: nil) == "local")
    }

    @Test func aBurstIsAdmittedThenTheRateRefillsIt() {
        let budget = RequestBudget(.init(perSecond: 2, burst: 3))
        let t0 = ContinuousClock.now
        #expect((0..<3).map { _ in budget.take("h1", now: t0) } == [.admitted, .admitted, .admitted])
        #expect(budget.take("h1", now: t0) == .refused(report: true))
        #expect(budget.take("h1", now: t0 + .milliseconds(100)) == .refused(report: false))
        // Half a second at two a second gives one back, and only one.
        #expect(budget.take("h1", now: t0 + .milliseconds(500)) == .admitted)
        // A host flooding at the edge of its rate is admitted now and then, and reported once a minute, not at
        // every refusal that follows an admission.
        #expect(budget.take("h1", now: t0 + .milliseconds(500)) == .refused(report: false))
        // A quiet spell refills the bucket to its size, never beyond.
        let later = t0 + RequestBudget.reportEvery
        #expect((0..<3).map { _ in budget.take("h1", now: later) } == [.admitted, .admitted, .admitted])
        #expect(budget.take("h1", now: later) == .refused(report: true))
    }

    @Test func oneHostsFloodLeavesAnothersBudgetAlone() {
        let budget = RequestBudget(.init(perSecond: 1, burst: 2))
        let t0 = ContinuousClock.now
        for _ in 0..<100 { _ = budget.take("flooder", now: t0) }
        #expect(budget.take("flooder", now: t0) == .refused(report: false))
        #expect(budget.take("honest", now: t0) == .admitted)
        #expect(budget.take("honest", now: t0) == .admitted)
    }

    @Test func noLimitAdmitsEverything() {
        let budget = RequestBudget(RequestBudget.Limit.perSecond(0))
        #expect(budget.limit == nil)
        #expect((0..<10_000).allSatisfy { _ in budget.take("h1") == .admitted })
        #expect(budget.tracked == 0)
        #expect(RequestBudget.Limit.perSecond(50) == .agents)
        #expect(RequestBudget.Limit.perSecond(0.1)?.burst == 1)
    }

    /// Quiet hosts' buckets are dropped once the table grows, and a region with many active hosts does not prune
    /// on every request.
    @Test func theTableStaysBounded() {
        let budget = RequestBudget(.init(perSecond: 10, burst: 5), pruneAbove: 100)
        let t0 = ContinuousClock.now
        for i in 0..<100 { _ = budget.take("quiet-\(i)", now: t0) }
        #expect(budget.tracked == 100)
        // A second later every quiet bucket is full again: the next new host prunes them.
        _ = budget.take("new", now: t0 + .seconds(1))
        #expect(budget.tracked == 1)
        // 150 hosts active at once (none full): they stay, and the table prunes again only past twice that.
        let t1 = t0 + .seconds(2)
        for i in 0..<150 { _ = budget.take("busy-\(i)", now: t1) }
        #expect(budget.tracked == 150)
        #expect(budget.take("busy-0", now: t1) == .admitted)
    }
}

/// The port the service bound, set from its `onRunning`.
private final class PortBox: Sendable {
    let value = Mutex<Int?>(nil)
    func set(_ p: Int) { value.withLock { $0 = p } }
    func get() -> Int? { value.withLock { $0 } }
}

/// A TLS handshake costs the server its key operations before it knows who calls: one address may open only so
/// many connections a second, and the excess are closed before any TLS.
@Suite("New connections per address")
struct ConnectionRateTests {
    @Test func connectionsOpenedFasterThanTheRateAreClosedBeforeTLSAndOnlyFromThatAddress() async throws {
        let bench = try BenchmarkRegion(hosts: 2, logger: Logger(label: "test"))
        defer { bench.destroy() }
        let service = try RCTCBService(directory: bench.directory, region: bench.region, logger: Logger(label: "test"))
        // One at once, then one every thousand seconds: on a loaded machine the test's two connections can be seconds apart.
        var limits = ListenerLimits.rctcb
        limits.newConnectionsPerSecond = 0.001
        let port = PortBox()
        let app = try service.application(host: "127.0.0.1", port: 0, limits: limits, onRunning: { p in port.set(p) })
        let task = Task { try await app.runService() }
        defer { task.cancel() }
        try await waitUntilAsync("the service listens", seconds: 600) { port.get() != nil }
        let p = try #require(port.get())
        let anonymous = try RawTLSPeer.Identity(ca: bench.directory.caCertificate)
        // Two opened from 127.0.0.2: one is taken, the other closed before its handshake. Which one is the
        // listener's to say: each connection is admitted on its own event loop, in either order.
        let first = try await RawTLSPeer.connect(port: p, from: "127.0.0.2", identity: anonymous)
        let second = try await RawTLSPeer.connect(port: p, from: "127.0.0.2", identity: anonymous)
        let outcomes = [await first.handshake(within: 120), await second.handshake(within: 120)]
        #expect(outcomes.sorted { "\($0)" < "\($1)" } == [.closed, .completed], "\(outcomes)")
        let refused = outcomes[0] == .closed ? first : second
        #expect(refused.record.bytes.withLock { $0.isEmpty })
        // Another address has its own rate.
        let other = try await RawTLSPeer.connect(port: p, from: "127.0.0.3", identity: anonymous)
        #expect(await other.handshake(within: 120) == .completed)
        for peer in [first, second, other] { peer.close() }
    }

    @Test func theRateIsCountedPerAddress() {
        let connections = ConnectionsPerAddress(cap: 0, newPerSecond: 1)
        let admitted = (0..<10).map { _ in connections.admit("192.0.2.1") }
        // Four seconds' worth at once, then refused (the first refusal worth a log line, the next not).
        #expect(admitted.prefix(4).allSatisfy { $0 == .admitted })
        #expect(admitted[4] == .overRate(report: true) && admitted[5] == .overRate(report: false))
        #expect(connections.admit("192.0.2.2") == .admitted)
        #expect(ConnectionsPerAddress(cap: 1, newPerSecond: 0).admit("192.0.2.1") == .admitted)
    }
}
