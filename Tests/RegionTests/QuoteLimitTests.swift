import Agent
import Foundation
import RegionProtocol
import Synchronization
import SmigTestSupport
import Testing

/// The agent's quote endpoint rules on their own: who is served (``PeerStanding``), how often (``QuoteAdmission``)
/// and in which turn at the TPM (``TPMTurns``). Time is a parameter.
@Suite("Quote endpoint limits")
struct QuoteLimitTests {
    @Test func aPeerIsServedOnlyWhileEnrolledWithItsAKAndNotRevoked() {
        let standing = PeerStanding()
        #expect(standing.verdict(host: "host-1", akName: "aa") == .unknown)
        standing.update(RegionPeers(version: 7, enrolled: ["host-1": "aa", "host-2": "bb"], revoked: ["host-3"]))
        #expect(standing.version == 7)
        #expect(standing.verdict(host: "host-1", akName: "aa") == .admitted)
        #expect(standing.verdict(host: "host-1", akName: "bb") == .notEnrolled)
        #expect(standing.verdict(host: "host-1", akName: nil) == .notEnrolled)
        #expect(standing.verdict(host: "host-3", akName: "cc") == .revoked)
        #expect(standing.verdict(host: "host-9", akName: "aa") == .notEnrolled)
        // "Unchanged" keeps the list; a new list replaces it.
        standing.update(RegionPeers(version: 7))
        #expect(standing.verdict(host: "host-2", akName: "bb") == .admitted)
        standing.update(RegionPeers(version: 8, enrolled: ["host-1": "aa"], revoked: ["host-2", "host-3"]))
        #expect(standing.verdict(host: "host-2", akName: "bb") == .revoked)
    }

    /// Requests that name a host the list does not know all wait for one early refresh; another starts only after
    /// the spacing.
    @Test func unknownHostsShareOneEarlyRefreshAtMostEverySpacing() async {
        let standing = PeerStanding()
        let refreshes = TurnOrder()
        let gate = AsyncStream<Void>.makeStream()
        let refresh: @Sendable () async -> Void = {
            refreshes.list.withLock { $0.append("refresh") }
            for await _ in gate.stream { break }
            standing.update(RegionPeers(version: 1, enrolled: ["host-4": "dd"], revoked: []))
        }
        let t0 = ContinuousClock.now
        let waiters = (0..<5).map { _ in Task { await standing.refreshEarly(now: t0, refresh) } }
        gate.continuation.yield()
        for w in waiters { await w.value }
        #expect(refreshes.list.withLock { $0 } == ["refresh"])
        #expect(standing.verdict(host: "host-4", akName: "dd") == .admitted)
        await standing.refreshEarly(now: t0.advanced(by: .milliseconds(500)), refresh)
        #expect(refreshes.list.withLock { $0.count } == 1)
        gate.continuation.yield()
        await standing.refreshEarly(now: t0.advanced(by: PeerStanding.refreshSpacing), refresh)
        #expect(refreshes.list.withLock { $0.count } == 2)
    }

    @Test func aPeerHasAFewRequestsInFlightAndABudget() {
        let admission = QuoteAdmission(limits: .init(inFlight: 2, burst: 3, perSecond: 1))
        let t0 = ContinuousClock.now
        #expect(admission.admit("agent:host-2", now: t0) == nil)
        #expect(admission.admit("agent:host-2", now: t0) == nil)
        #expect(admission.admit("agent:host-2", now: t0) == .tooManyInFlight)
        // Another peer has its own limits.
        #expect(admission.admit("agent:host-3", now: t0) == nil)
        admission.finish("agent:host-2")
        #expect(admission.admit("agent:host-2", now: t0) == nil)
        admission.finish("agent:host-2")
        admission.finish("agent:host-2")
        // Three of a burst of three spent: refused until a token comes back.
        #expect(admission.admit("agent:host-2", now: t0) == .overBudget)
        #expect(admission.admit("agent:host-2", now: t0.advanced(by: .milliseconds(500))) == .overBudget)
        #expect(admission.admit("agent:host-2", now: t0.advanced(by: .seconds(1))) == nil)
        admission.finish("agent:host-2")
        // An idle peer's bucket refills to the burst, not beyond.
        let later = t0.advanced(by: .seconds(60))
        for _ in 0..<3 {
            #expect(admission.admit("agent:host-2", now: later) == nil)
            admission.finish("agent:host-2")
        }
        #expect(admission.admit("agent:host-2", now: later) == .overBudget)
    }

    @Test func theFirstLaneGoesAheadOfQueuedPeers() async throws {
        let turns = TPMTurns()
        let order = TurnOrder()
        let holding = AsyncStream<Void>.makeStream()
        let release = AsyncStream<Void>.makeStream()
        // One peer holds the TPM; two more peers queue, then the RC-TCB.
        let holder = Task {
            await turns.withTurn(.peer) {
                holding.continuation.yield()
                for await _ in release.stream { break }
                order.list.withLock { $0.append("peer-0") }
            }
        }
        for await _ in holding.stream { break }
        var tasks: [Task<Void, Never>] = []
        for i in 1...2 {
            tasks.append(Task { await turns.withTurn(.peer) { order.list.withLock { $0.append("peer-\(i)") } } })
            try await waitUntilTurns(turns) { $0.peer == i }
        }
        tasks.append(Task { await turns.withTurn(.first) { order.list.withLock { $0.append("rctcb") } } })
        try await waitUntilTurns(turns) { $0.first == 1 }
        release.continuation.yield()
        await holder.value
        for t in tasks { await t.value }
        #expect(order.list.withLock { $0 } == ["peer-0", "rctcb", "peer-1", "peer-2"])
    }

    /// Who had the TPM, in order.
    final class TurnOrder: Sendable {
        let list = Mutex<[String]>([])
    }

    func waitUntilTurns(_ turns: TPMTurns, _ condition: @escaping ((first: Int, peer: Int)) -> Bool) async throws {
        try await waitUntilAsync("callers queued for the TPM", seconds: 60) { condition(turns.waiting) }
    }
}
