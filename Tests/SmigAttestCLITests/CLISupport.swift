import Foundation
import Swtpm
import SmigTestSupport
import Testing
import TPM

/// Runs the real `smig-attest` executable (built beside this test bundle, or `$SMIG_ATTEST_BIN`) and tools such
/// as tpm2_checkquote.
struct Run {
    let status: Int32
    let output: String

    static func tool(_ tool: String, _ args: [String], env: [String: String] = [:]) throws -> Run {
        let r = try ToolRun.run(tool, args, environment: env)
        return Run(status: r.status, output: r.output)
    }

    static func smig(_ args: [String], env: [String: String] = [:]) throws -> Run {
        try tool(try TestBinaries.smigAttest(), args, env: env)
    }

    /// The JSON object printed on stdout (the last `{`…`}` block).
    func json() throws -> [String: Any] {
        guard let start = output.firstIndex(of: "{"), let end = output.lastIndex(of: "}") else {
            throw CLIFixtureFailure(description: "no JSON in: \(output)")
        }
        let data = Data(output[start...end].utf8)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIFixtureFailure(description: "not a JSON object: \(output)")
        }
        return object
    }

    /// The JSON objects printed one after another (as `events --json` prints events; objects without nested ones).
    /// The JSON array printed on stdout (`events --json`).
    func jsonObjects() throws -> [[String: Any]] {
        try #require(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]], "\(output)")
    }

    /// The error a `--json` run printed: `{"error": {"code": …, "message": …, "hint": …}}`, as its fields.
    func jsonError() throws -> [String: String] {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("{\"error\"") }, "no JSON error in: \(output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: [String: String]], "\(line)")
        return try #require(object["error"], "\(line)")
    }
}

struct CLIFixtureFailure: Error, CustomStringConvertible {
    let description: String
}

/// A swtpm for one test, with tpm2-tools pointed at it and a state directory.
final class CLIWorld {
    let swtpm: SoftwareTPM
    let dir: URL
    var env: [String: String] { ["SMIG_TCTI": swtpm.tcti, "SMIG_STATE_DIR": dir.appendingPathComponent("state").path, "TPM2TOOLS_TCTI": swtpm.tcti] }
    var state: String { dir.appendingPathComponent("state").path }
    /// The provisioned AK (TPM2B_PUBLIC): the key a verifier pins.
    var akPub: String { "\(state)/ak.pub" }

    init() throws {
        guard SoftwareTPM.isAvailable else {
            throw CLIFixtureFailure(description: "swtpm is required (apt-get install swtpm swtpm-tools); never skipped")
        }
        swtpm = try SoftwareTPM()
        try swtpm.start()
        dir = swtpm.root.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    deinit { swtpm.destroy() }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func smig(_ args: [String]) throws -> Run { try Run.smig(args, env: env) }
    func tool(_ name: String, _ args: [String]) throws -> Run { try Run.tool(name, args, env: env) }
}
