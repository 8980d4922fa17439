import Logging
import ServiceLifecycle

/// Keeps a follower warm with the changes the store announces (LISTEN/NOTIFY, ``RegionLeases/changes()``): when the
/// leader gives its lease up, the next leadership round runs at once instead of at its time, so a follower takes the
/// region over within a round trip of the release; when rows or the audit trail change, the follower re-reads its
/// IVT snapshot (at most every ``refreshEvery``), so its gauges and what it would start leading from are fresh.
/// The leader's own writes announce changes too; it passes them by.
struct RegionChangeFollower: Service {
    let changes: @Sendable () -> AsyncStream<RegionChange>
    let leadership: RegionLeadership
    let region: RegionState
    let logger: Logger

    /// At most this often a follower re-reads its snapshot: every row a leader writes is announced, and a burst of
    /// them (a busy region judges hundreds of hosts a second) comes to one re-read, never to none.
    static let refreshEvery: Duration = .milliseconds(250)

    func run() async throws {
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
            for await change in changes().cancelOnGracefulShutdown() where !leadership.mayAct {
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
            group.cancelAll()
        }
    }
}
