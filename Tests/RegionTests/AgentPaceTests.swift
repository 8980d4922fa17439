import Agent
import RegionProtocol
import Testing

/// An agent's pace: agent.json's intervals until the RC-TCB says the region's, then the region's, or agent.json's
/// where shorter.
@Suite("Agent pace")
struct AgentPaceTests {
    @Test(arguments: [
        // agent.json measurement, challenge; region's (nil: not said yet); the pace kept.
        (nil, nil, nil, 30.0, 60.0),
        (10.0, 20.0, nil, 10.0, 20.0),
        (nil, nil, RegionIntervals(measurement: 15, challenge: 45), 15.0, 45.0),
        (5.0, 600.0, RegionIntervals(measurement: 15, challenge: 45), 5.0, 45.0),
        (0.2, 1.0, RegionIntervals(measurement: 1, challenge: 1), 0.2, 1.0),
    ] as [(Double?, Double?, RegionIntervals?, Double, Double)])
    func pace(measurement: Double?, challenge: Double?, region: RegionIntervals?, expectedMeasurement: Double, expectedChallenge: Double) {
        let pace = AgentPace(measurement: measurement, challenge: challenge)
        pace.update(region)
        #expect(pace.measurement == expectedMeasurement)
        #expect(pace.challenge == expectedChallenge)
    }

    @Test func anUpdateSaysWhetherTheRegionsIntervalsChanged() {
        let pace = AgentPace(measurement: nil, challenge: nil)
        #expect(!pace.update(nil), "an answer without intervals (an older RC-TCB) changes nothing")
        #expect(pace.update(RegionIntervals(measurement: 30, challenge: 60)))
        #expect(!pace.update(RegionIntervals(measurement: 30, challenge: 60)))
        #expect(pace.update(RegionIntervals(measurement: 10, challenge: 60)))
        #expect(pace.measurement == 10)
    }
}
