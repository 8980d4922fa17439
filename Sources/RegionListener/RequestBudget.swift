import CoreMetrics
import Synchronization

/// How fast one caller may call a region listener: a token bucket per caller. Every listener counts new
/// connections per peer address (``ConnectionsPerAddress``: a TLS handshake costs the server key operations before
/// it knows who calls); the RC-TCB also keeps two budgets of requests:
///
/// - **per agent certificate** (keyed by its host, ``Limit/agents``). Every agent route costs the RC-TCB a read of
///   the audit trail's last number before anything else, a report a signature check and a write on top. An
///   enrolled agent is a stranger with a valid certificate: without a budget it could spend the RC-TCB's CPU at
///   will and slow every other host's verdicts. An honest agent makes a few requests per ring interval (an
///   assignment, a report, the peer list, a notice now and then), far under the default.
/// - **per peer address for enrolment** (keyed by ``PeerAddressKey``, ``Limit/enrolment``). Anyone may ask to
///   enrol, without a certificate; each request costs a read of the host's standing, a refusal an audit write, and
///   one naming an open host a certificate chain check and a credential. A host enrols once; a rack behind one
///   address enrolling at once gets its bursts, and the agent waits and tries again when refused.
///
/// A request over the budget is refused with `request.rate-limited` before anything else is done for it (for an
/// agent right after its certificate is read, before admission or the body). The bucket holds `burst` requests and
/// refills at `perSecond`; a caller that stays under the rate is never refused, one that bursts after a quiet spell
/// gets up to `burst` at once.
package final class RequestBudget: Sendable {
    package struct Limit: Sendable, Hashable {
        /// Requests per second one caller may make on average.
        package var perSecond: Double
        /// Requests it may make at once after a quiet spell (the bucket's size).
        package var burst: Int

        package init(perSecond: Double, burst: Int) {
            self.perSecond = perSecond
            self.burst = burst
        }

        /// The RC-TCB's default per agent certificate: 50 requests a second, bursts of 200 (four seconds' worth).
        package static let agents = Limit(perSecond: 50, burst: 200)
        /// The RC-TCB's default for enrolment per peer address: 10 requests a second (five hosts' enrolments, two
        /// requests each), bursts of 40.
        package static let enrolment = Limit(perSecond: 10, burst: 40)

        /// "50 a second, bursts of 200".
        package var description: String {
            let rate = perSecond == perSecond.rounded() && perSecond < 1e15 ? "\(Int(perSecond))" : "\(perSecond)"
            return "\(rate) a second, bursts of \(burst)"
        }

        /// The rates an operator may set (per second; 0: no limit). Not a number is none of them.
        package static let settableRates: ClosedRange<Double> = 0...1_000_000

        /// The highest of `settableRates` as an error message spells it.
        package static var highestSettableRate: String { "\(Int(settableRates.upperBound))" }

        /// `perSecond` with bursts of four seconds' worth; nil (no limit) for 0.
        package static func perSecond(_ rate: Double) -> Limit? {
            rate > 0 ? Limit(perSecond: rate, burst: max(1, Int(min(rate * 4, 1e9).rounded(.up)))) : nil
        }
    }

    /// What a request gets.
    package enum Decision: Equatable, Sendable {
        case admitted
        /// Over the budget; `report`: the caller's first refusal in ``reportEvery`` (worth one log line: a caller
        /// that keeps flooding is logged once a minute, not once per refused request).
        case refused(report: Bool)
    }

    /// How often a caller's refusals are worth a log line.
    package static let reportEvery = Duration.seconds(60)

    struct Bucket {
        var tokens: TokenBucket
        /// When a refusal of this caller was last reported.
        var reported: ContinuousClock.Instant?
    }

    struct Table {
        var buckets: [String: Bucket] = [:]
        /// Past this many buckets, full ones (callers quiet for a while) are dropped: a full bucket and none are the
        /// same. After a prune it is twice what is left (at least the floor given), so a region with more active
        /// callers than that prunes seldom, not on every request.
        var pruneAt: Int
    }

    /// nil: no limit (a load generator speaking for many hosts).
    package let limit: Limit?
    let table: Mutex<Table>
    let pruneFloor: Int
    /// Requests refused over this budget, all callers together (`/metrics`; the log names the caller once per episode).
    let refusals: Counter

    /// `metric`: the counter of refusals (``agentMetric``, ``enrolmentMetric``).
    package init(_ limit: Limit?, metric: String = RequestBudget.agentMetric, pruneAbove: Int = 4096) {
        self.limit = limit
        refusals = Counter(label: metric)
        pruneFloor = max(1, pruneAbove)
        table = Mutex(Table(pruneAt: max(1, pruneAbove)))
    }

    /// The counters of the budgets.
    package static let agentMetric = "smig_agent_requests_rate_limited_total"
    package static let enrolmentMetric = "smig_enrolment_requests_rate_limited_total"
    package static let connectionMetric = "smig_connections_rate_limited_total"

    /// Takes one request of `caller` (a host name, or a ``PeerAddressKey``) from its bucket.
    package func take(_ caller: String, now: ContinuousClock.Instant = .now) -> Decision {
        guard let limit else { return .admitted }
        let size = Double(limit.burst)
        let decision = table.withLock { table in
            if table.buckets.count >= table.pruneAt {
                table.buckets = table.buckets.filter { !$0.value.tokens.isFull(size: size, perSecond: limit.perSecond, at: now) }
                table.pruneAt = max(pruneFloor, 2 * table.buckets.count)
            }
            var bucket = table.buckets[caller] ?? Bucket(tokens: TokenBucket(size: size, at: now))
            bucket.tokens.refill(size: size, perSecond: limit.perSecond, now: now)
            defer { table.buckets[caller] = bucket }
            if bucket.tokens.take() { return Decision.admitted }
            let report = bucket.reported.map { $0 + Self.reportEvery <= now } ?? true
            if report { bucket.reported = now }
            return .refused(report: report)
        }
        if decision != .admitted { refusals.increment() }
        return decision
    }

    /// Callers holding a bucket now (for tests: the table stays bounded).
    package var tracked: Int { table.withLock { $0.buckets.count } }
}
