import Synchronization
import RegionListener

/// The quote endpoint's limits per peer (keyed by the identity its certificate names, so a host's certificates share
/// one budget): at most ``Limits/inFlight`` requests at once, and a token bucket of ``Limits/burst`` requests
/// refilled at ``Limits/perSecond``. A ring neighbour asks once per challenge interval; a peer asking faster is
/// refused (`quote.rate-limited`) before its request reaches the TPM. The RC-TCB is not limited here.
package final class QuoteAdmission: Sendable {
    package struct Limits: Sendable, Hashable {
        package var inFlight: Int
        package var burst: Double
        package var perSecond: Double

        package init(inFlight: Int = 2, burst: Double = 5, perSecond: Double = 2) {
            self.inFlight = inFlight
            self.burst = burst
            self.perSecond = perSecond
        }
    }

    package enum Refusal: Sendable, Equatable {
        /// ``Limits/inFlight`` requests of this peer are being answered.
        case tooManyInFlight
        /// The peer's budget is spent.
        case overBudget
    }

    struct Peer {
        var bucket: TokenBucket
        var inFlight = 0
    }

    package let limits: Limits
    let peers = Mutex<[String: Peer]>([:])
    /// Peers remembered at most; idle ones with a full bucket are forgotten first.
    static let capacity = 4096

    package init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Admits one request of `peer` at `now` (counted in flight until ``finish(_:)``), or says why not.
    package func admit(_ peer: String, now: ContinuousClock.Instant) -> Refusal? {
        peers.withLock { peers in
            if peers.count >= Self.capacity, peers[peer] == nil { prune(&peers, now: now) }
            var p = peers[peer] ?? Peer(bucket: TokenBucket(size: limits.burst, at: now))
            p.bucket.refill(size: limits.burst, perSecond: limits.perSecond, now: now)
            defer { peers[peer] = p }
            if p.inFlight >= limits.inFlight { return .tooManyInFlight }
            guard p.bucket.take() else { return .overBudget }
            p.inFlight += 1
            return nil
        }
    }

    /// An admitted request of `peer` was answered.
    package func finish(_ peer: String) {
        peers.withLock { peers in
            if var p = peers[peer] {
                p.inFlight = max(0, p.inFlight - 1)
                peers[peer] = p
            }
        }
    }

    func prune(_ peers: inout [String: Peer], now: ContinuousClock.Instant) {
        peers = peers.filter { _, p in p.inFlight > 0 || !p.bucket.isFull(size: limits.burst, perSecond: limits.perSecond, at: now) }
        // Everyone is busy or recent: forget the idle ones anyway rather than grow without bound.
        if peers.count >= Self.capacity { peers = peers.filter { $0.value.inFlight > 0 } }
    }
}
