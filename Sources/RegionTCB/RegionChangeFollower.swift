import Logging
import ServiceLifecycle

/// Keeps a follower warm with the changes the store announces (LISTEN/NOTIFY, ``RegionLeases/changes()``): when the
/// leader gives its lease up, the next leadership round runs at once instead of at its time, so a follower takes the
/// region over within a round trip of the release; when rows or the audit trail change, the follower re-reads its
/// IVT snapshot, so its gauges and what it would start leading from are fresh. The leader's own writes announce
/// changes too; it passes them by.
struct RegionChangeFollower: Service {
    let changes: @Sendable () -> AsyncStream<RegionChange>
    let leadership: RegionLeadership
    let region: RegionState
    let logger: Logger

    func run() async throws {
        for await change in changes().cancelOnGracefulShutdown() where !leadership.mayAct {
            switch change {
            case .leaseReleased:
                logger.notice("the leader released its lease; taking part in the next round now")
                leadership.wake()
            case .listening:
                logger.notice("following the region's changes (LISTEN)")
                await region.refresh()
            case .rows:
                await region.refresh()
            }
        }
    }
}
