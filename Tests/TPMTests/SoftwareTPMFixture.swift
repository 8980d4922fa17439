import Foundation
import Swtpm
import SmigTestSupport
import Testing
import TPM

/// Starts a private swtpm on a free loopback port for one suite. swtpm is required: tests that need a TPM
/// fail (never skip) when it is missing — `.ci/run` and the README's test command install it.
func startSoftwareTPM() throws -> SoftwareTPM {
    guard SoftwareTPM.isAvailable else {
        let ci = ProcessInfo.processInfo.environment["CI"] == "true"
        throw FixtureFailure(description: "swtpm/swtpm_setup not installed\(ci ? " (CI=true: a missing swtpm is a failure)" : ""); apt-get install swtpm swtpm-tools")
    }
    let tpm = try SoftwareTPM()
    try tpm.start()
    return tpm
}

struct FixtureFailure: Error, CustomStringConvertible {
    let description: String
}

/// Runs a tool, returning its exit status and combined output.
func runTool(_ tool: String, _ args: [String], environment: [String: String] = [:]) throws -> (Int32, String) {
    let r = try ToolRun.run(tool, args, environment: environment)
    return (r.status, r.output)
}

/// The repository root (for swtpm-setup/).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
