package import RegionProtocol
import Synchronization

/// How often this agent measures and challenges its neighbour: the region policy's `intervals` (one source, which
/// the RC-TCB sends with every `GET /v1/peers` answer), or agent.json's `measurementInterval` / `challengeInterval`
/// where shorter — a host may be watched more closely than the region asks, never less.
package final class AgentPace: Sendable {
    let measurementConfigured: Double?
    let challengeConfigured: Double?
    let region = Mutex<RegionIntervals?>(nil)

    package init(measurement: Double?, challenge: Double?) {
        measurementConfigured = measurement
        challengeConfigured = challenge
    }

    /// Takes the region's intervals from the RC-TCB's answer; true when they changed (then the agent logs them).
    @discardableResult
    package func update(_ intervals: RegionIntervals?) -> Bool {
        guard let intervals else { return false }
        return region.withLock { known in
            defer { known = intervals }
            return known != intervals
        }
    }

    /// Seconds between measurements (30 until the RC-TCB said the region's, unless agent.json says).
    package var measurement: Double {
        RegionIntervals.faster(than: region.withLock { $0?.measurement }, configured: measurementConfigured, fallback: 30)
    }

    /// Seconds between ring challenges (60 until the RC-TCB said the region's, unless agent.json says).
    package var challenge: Double {
        RegionIntervals.faster(than: region.withLock { $0?.challenge }, configured: challengeConfigured, fallback: 60)
    }
}
