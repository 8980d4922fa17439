import Foundation
import SmigTestSupport
import Testing

/// The region policy's `intervals` are the one source of an agent's pace: the RC-TCB sends them, and agent.json may
/// only make a host measure or challenge more often — through the real binary (the agent logs the pace it keeps).
/// A live suite: each case runs `rctcb serve` and `agent run` as daemons, about ten seconds each on this machine.
@Suite("Agent pace from the region policy", .serialized)
struct AgentPaceLiveTests {
    /// The region (EnrolmentCLITests.regionFile) says measurement 30s, challenge 60s.
    /// agent.json's measurementInterval and challengeInterval (nil: left out), and the pace the agent keeps.
    @Test(arguments: [
        (nil, nil, "attest.measure-every=30.0s", "attest.challenge-every=60.0s"),
        (5, 600, "attest.measure-every=5.0s", "attest.challenge-every=60.0s"),
    ] as [(Int?, Int?, String, String)])
    func theRegionSetsThePaceAndAHostMayOnlyGoFaster(measurementInterval: Int?, challengeInterval: Int?, measure: String, challenge: String) throws {
        var changes: [String: Any] = [:]
        if let measurementInterval { changes["measurementInterval"] = measurementInterval }
        if let challengeInterval { changes["challengeInterval"] = challengeInterval }
        let a = try EnrolledAgent()
        let config = try a.writeConfig(changes)
        let agent = try Daemon(try TestBinaries.smigAttest(), ["agent", "run", "--config", config], environment: a.world.env,
                               log: URL(fileURLWithPath: a.world.path("agent.log")))
        defer { agent.stop() }
        try waitUntil("the agent logs its pace", seconds: 60) { agent.output.contains("attest.measure-every") || !agent.process.isRunning }
        let line = agent.output.split(separator: "\n").first { $0.contains("attest.measure-every") }.map(String.init) ?? agent.output
        #expect(line.contains(measure) && line.contains(challenge), "\(line)")
        #expect(line.contains("attest.region-measurement=30.0s") && line.contains("attest.region-challenge=60.0s"), "\(line)")
    }
}
