import Foundation
import SmigTestSupport
import Swtpm

/// A swtpm host enrolled with a running RC-TCB (`rctcb init` with the swtpm's EK CA, `rctcb serve`, `agent enrol`
/// as host-a), ready for `agent run` with a configuration from ``writeConfig(_:)``.
final class EnrolledAgent {
    let world: CLIWorld
    let region: RegionFixture
    let server: Daemon
    let url: String

    /// `initArguments`: more arguments of `rctcb init` (e.g. an offline root).
    /// `agentPort`: host-a's port in the region policy (where the RC-TCB challenges it).
    init(initArguments: [String] = [], agentPort: Int = 9) throws {
        world = try CLIWorld()
        let provision = try world.smig(["tpm", "provision"])
        guard provision.status == 0 else { throw CLIFixtureFailure(description: "tpm provision: \(provision.output)") }
        let ca = world.swtpm.root.appendingPathComponent("localca")
        region = try RegionFixture(ekCA: ["swtpm-localca-rootca-cert.pem", "issuercert.pem"].map { ca.appendingPathComponent($0).path },
                                   initArguments: initArguments, firstPort: agentPort)
        (server, url) = try region.serve("server")
        let enrol = try world.smig(["agent", "enrol", "--host-id", "host-a", "--rctcb", url, "--ca", "\(region.dir)/region-ca.pem"])
        guard enrol.status == 0 else { throw CLIFixtureFailure(description: "agent enrol: \(enrol.output)") }
    }

    deinit { server.stop() }

    /// The RC-TCB's port.
    var port: Int { URLComponents(string: url)?.port ?? 0 }

    /// Writes agent.json for host-a (listening on a port the system chooses) with `changes` applied; returns its path.
    func writeConfig(_ changes: [String: Any] = [:]) throws -> String {
        var config: [String: Any] = ["hostId": "host-a", "rctcb": url, "stateDirectory": world.state, "tcti": world.swtpm.tcti,
                                     "listenAddress": "127.0.0.1", "listenPort": 0, "sources": [String](), "challengeTimeout": 5,
                                     "push": true, "bootLog": ""]
        config.merge(changes) { $1 }
        let path = world.path("agent-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: path))
        return path
    }
}
