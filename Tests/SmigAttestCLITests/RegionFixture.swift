import Foundation
import SmigTestSupport

/// An RC-TCB directory made by the real `rctcb init` in a fresh temporary directory (no TPM needed), and
/// `rctcb serve` processes on it.
final class RegionFixture {
    let root: URL
    let region: String
    let dir: String

    /// `ekCA`: the EK CA certificates (`rctcb init --ek-ca`) of TPMs that are to enrol.
    /// `initArguments`: more arguments of `rctcb init` (e.g. an offline root).
    init(hosts: [String] = ["host-a", "host-b"], ekCA: [String] = [], initArguments: [String] = [], firstPort: Int = 9) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("smig-region-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        region = try EnrolmentCLITests.regionFile(at: root.appendingPathComponent("region.yaml").path, hosts: hosts, firstPort: firstPort)
        dir = root.appendingPathComponent("rctcb").path
        let made = try Run.smig(["rctcb", "init", "--region", region, "--dir", dir] + ekCA.flatMap { ["--ek-ca", $0] } + initArguments)
        guard made.status == 0 else { throw CLIFixtureFailure(description: "rctcb init failed: \(made.output)") }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    /// The arguments of `rctcb serve` on this directory, on a port the OS chooses, written to NAME.port.
    func serveArguments(_ name: String) -> [String] {
        ["rctcb", "serve", "--region", region, "--dir", dir, "--port", "0", "--port-file", path("\(name).port")]
    }

    /// `rctcb serve` as a daemon (log NAME.log), listening once this returns: the daemon and its URL.
    func serve(_ name: String) throws -> (daemon: Daemon, url: String) {
        let daemon = try Daemon(try TestBinaries.smigAttest(), serveArguments(name), log: URL(fileURLWithPath: path("\(name).log")))
        let port = try daemon.waitForPort(file: path("\(name).port"))
        return (daemon, "https://127.0.0.1:\(port)")
    }

    /// The audit trail as `events --json` prints it, one event per `"seq"`.
    func eventCount(_ url: String) throws -> Int {
        let events = try Run.smig(["events", "--rctcb", url, "--dir", dir, "--json"])
        guard events.status == 0 else { throw CLIFixtureFailure(description: "events failed: \(events.output)") }
        return events.output.components(separatedBy: "\"seq\"").count - 1
    }
}
