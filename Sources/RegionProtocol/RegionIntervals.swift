import DurationUnits
/// The region's pace, from the region policy's `intervals` — the one place it is set. The RC-TCB sends it to every
/// agent with each `GET /v1/peers` answer; an agent measures and challenges at this pace, or faster where its
/// agent.json says so (``faster(than:configured:)``), never slower.
package struct RegionIntervals: Codable, Hashable, Sendable {
    /// Seconds between an agent's measurements (`intervals.measurement`).
    package var measurement: Double
    /// Seconds between an agent's ring challenges of its neighbour (`intervals.challenge`).
    package var challenge: Double

    package init(measurement: Double, challenge: Double) {
        self.measurement = measurement
        self.challenge = challenge
    }

    package init(measurement: Duration, challenge: Duration) {
        self.init(measurement: measurement.inSeconds, challenge: challenge.inSeconds)
    }

    /// The interval in effect: the region's, or the host's own where it is shorter; the host's own (else `fallback`)
    /// until the RC-TCB has said the region's.
    package static func faster(than region: Double?, configured: Double?, fallback: Double) -> Double {
        switch (region, configured) {
        case let (region?, configured?): min(region, configured)
        case let (region?, nil): region
        case let (nil, configured?): configured
        case (nil, nil): fallback
        }
    }
}
