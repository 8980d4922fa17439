import Logging
import ServiceLifecycle

/// Keeps a follower warm with the changes the store announces (LISTEN/NOTIFY, ``RegionLeases/changes()``): when the
/// leader gives its lease up, the next leadership round runs at once instead of at its time, so a follower takes the
/// region over within a round trip of the release; when rows or the audit trail change, the follower re-reads its
/// IVT snapshot (at most every ``refreshEvery``), so its gauges and what it would start leading from are fresh.
///
/// Once this RC-TCB leads it stops listening (its LISTEN connection is closed): every change then is its own, and a
/// leader never follows again in the same process — it steps down by ending (``RegionLeadership``), and its
/// supervisor starts it again as a follower. The service then waits for the shutdown.
struct RegionChangeFollower: Service {
    let changes: @Sendable () -> AsyncStream<RegionChange>
    let leadership: RegionLeadership
    let region: RegionState
    let logger: Logger

    /// At most this often a follower re-reads its snapshot: every row a leader writes is announced, and a burst of
    /// them (a busy region judges hundreds of hosts a second) comes to one re-read, never to none.
    static let refreshEvery: Duration = .milliseconds(250)
    /// How often a follower looks whether it leads now (then it stops listening).
    static let leadershipCheckEvery: Duration = .milliseconds(250)

    func run() async throws {
        if !leadership.mayAct {
            await follow()
            if leadership.mayAct { logger.notice("leading: no longer following the region's changes (LISTEN ended)") }
        }
        try? await gracefulShutdown()
    }

    /// Follows the changes until this RC-TCB leads, or the service is shut down.
    private func follow() async {
        let stale = RoundWakeup()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    await stale.wait(upTo: .seconds(60))
                    if Task.isCancelled { return }
                    if !leadership.mayAct { await region.refresh() }
                    try? await Task.sleep(for: Self.refreshEvery)
                }
            }
            group.addTask {
                while !Task.isCancelled && !leadership.mayAct { try? await Task.sleep(for: Self.leadershipCheckEvery) }
            }
            group.addTask {
                for await change in changes().cancelOnGracefulShutdown() {
                    if leadership.mayAct { return }
                    switch change {
                    case .leaseReleased:
                        logger.notice("the leader released its lease; taking part in the next round now")
                        leadership.wake()
                    case .listening:
                        logger.notice("following the region's changes (LISTEN)")
                        stale.wake()
                    case .rows:
                        stale.wake()
                    }
                }
            }
            // Leading now, the changes ended (a shutdown), or the leadership check ended: the rest stop with it.
            _ = await group.next()
            group.cancelAll()
        }
    }
}
