import Foundation
package import Logging
import ServiceLifecycle
import Synchronization

/// One RC-TCB's part in its region's leadership, when several share a PostgreSQL store: it takes the region's lease
/// when none is live, renews it every third of its duration, and writes through the lease's fenced view while it
/// holds it (``LeaderFencedStore``). Only the leader runs the ring, the scheduler, the decision engine and
/// evacuations (``mayAct``); followers answer agents and operators `rctcb.not-leader` and wait to take over.
///
/// Stepping down: a leader whose renewal is refused (`store.fenced`: the lease expired, e.g. the process was stopped
/// for longer than the lease, and another RC-TCB took it) or that cannot renew before the lease would run out by
/// its own clock (the database out of reach) stops acting at once, and this service ends with `store.fenced`, which
/// ends the process: whatever it had in flight ends with it, and its supervisor starts it again as a follower. A
/// leader that shuts down (SIGTERM) gives the lease up, so a follower takes over without waiting for it to expire.
///
/// Rounds start every third of the lease, counted from the start of the last one. A renewal is waited for a third of
/// a lease at most, and never past the lease's end by this process's clock (``renewalDeadline(at:until:)``): a
/// database that went silent (a cut link, where a query waits for TCP to give up) is `store.unreachable` by then,
/// and the next round starts at once, on another connection if one works. The last round comes at the lease's end,
/// so a leader cut off from the database stops acting when its lease runs out and steps down at that moment.
package final class RegionLeadership: Service, Sendable {
    package let store: LeaderFencedStore
    let leases: any RegionLeases
    package let holder: String
    package let duration: Duration
    let logger: Logger
    /// The lease held and how long this process may act on it by its own clock (the time of the last successful
    /// acquisition or renewal's start, plus the duration); nil while following.
    let held = Mutex<(lease: LeaderLease, until: ContinuousClock.Instant)?>(nil)
    /// Ends the pause before the next round early (``wake()``).
    let wakeup = RoundWakeup()

    package init(store: LeaderFencedStore, leases: any RegionLeases, holder: String, duration: Duration, logger: Logger) {
        (self.store, self.leases, self.holder, self.duration, self.logger) = (store, leases, holder, duration, logger)
    }

    /// Whether this RC-TCB leads now: it holds the lease and the lease has not run out by its own clock. The
    /// database fences every write anyway; this keeps a stale leader from even trying (a migration order, too).
    package var mayAct: Bool { held.withLock { $0.map { ContinuousClock.now < $0.until } ?? false } }

    /// The lease this RC-TCB holds, if any.
    package var lease: LeaderLease? { held.withLock { $0?.lease } }

    /// The region's leader as the store says now (for `GET /v1/health`).
    package func leader() async -> String? {
        guard let current = try? await leases.currentLease(), current.live else { return nil }
        return current.lease.holder
    }

    package func run() async throws {
        let every = duration / 3
        // A shutdown ends the pause at once: the lease is given up without waiting for the next round.
        try await withGracefulShutdownHandler {
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                let round = ContinuousClock.now
                try await step()
                // Never past the lease's end by this clock: a leader whose renewals fail is judged when its lease runs out.
                let next = held.withLock { $0.map { min(round + every, $0.until) } } ?? round + every
                await wakeup.wait(upTo: max(.zero, next - ContinuousClock.now))
            }
        } onGracefulShutdown: {
            self.wakeup.wake()
        }
        if let lease {
            held.withLock { $0 = nil }
            try? store.lead(nil)
            try? await leases.releaseLease(lease)
            logger.notice("leader lease released", metadata: ["attest.epoch": "\(lease.epoch)"])
        }
    }

    /// Runs the next round now (the leader released the lease: a follower takes it without waiting for its round).
    package func wake() { wakeup.wake() }

    /// One round: take the lease when none is live, or renew the one held.
    package func step() async throws {
        let started = ContinuousClock.now
        guard let (lease, until) = held.withLock({ $0 }) else {
            do {
                guard let lease = try await leases.acquireLease(holder: holder, for: duration) else { return }
                try store.lead(lease)
                held.withLock { $0 = (lease, started + duration) }
                logger.notice("leading the region", metadata: ["attest.holder": "\(holder)", "attest.epoch": "\(lease.epoch)"])
            } catch {
                logger.warning("cannot take the leader lease", metadata: ["attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
            }
            return
        }
        do {
            let leases = leases, duration = duration, limit = renewalDeadline(at: started, until: until)
            try await Self.bounded(within: limit, lease: lease) { () async throws(RegionError) in try await leases.renewLease(lease, for: duration) }
            held.withLock { $0 = (lease, started + duration) }
        } catch where error.code == .storeFenced {
            try stepDown(lease, error)
        } catch {
            // The store out of reach: keep trying while the lease lasts by this process's clock, then step down.
            logger.warning("leader lease not renewed", metadata: ["attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
            if ContinuousClock.now >= until {
                try stepDown(lease, RegionError(.storeFenced, "lease \(lease): not renewed before it ran out (\(error.reason))",
                                                hint: "the store was out of reach; this RC-TCB stops acting and starts again as a follower"))
            }
        }
    }

    /// How long a renewal started at `started` is waited for: a third of a lease, and no longer than until the lease
    /// runs out by this clock (`until`); a renewal that starts after that (this process was not scheduled in time)
    /// gets a third of a lease.
    func renewalDeadline(at started: ContinuousClock.Instant, until: ContinuousClock.Instant) -> Duration {
        let left = until - started
        return left > .zero ? min(left, duration / 3) : duration / 3
    }

    /// `body` within `limit`; no answer by then is `store.unreachable`.
    static func bounded(within limit: Duration, lease: LeaderLease, _ body: @escaping @Sendable () async throws(RegionError) -> Void)
        async throws(RegionError) {
        do {
            try await Deadline.run(within: limit, timeout: {
                RegionError(.storeUnreachable, "lease \(lease): the store did not answer the renewal within \(limit)",
                            hint: "the database is out of reach; the lease runs out unless a renewal gets through")
            }) { try await body() }
        } catch let e as RegionError {
            throw e
        } catch {
            throw RegionError(.storeUnreachable, "lease \(lease): renewal abandoned: \(error)")
        }
    }

    func stepDown(_ lease: LeaderLease, _ error: RegionError) throws(RegionError) -> Never {
        held.withLock { $0 = nil }
        try? store.lead(nil)
        logger.critical("stepping down: no longer the region's leader", metadata: ["attest.epoch": "\(lease.epoch)", "attest.code": "\(error.code)",
                                                                                   "attest.reason": "\(error.reason)"])
        throw error
    }
}
