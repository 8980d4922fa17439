import Foundation
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
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = [tool] + args
    var env = ProcessInfo.processInfo.environment
    env.merge(environment) { $1 }
    p.environment = env
    // Output goes to a file, not a pipe: a daemon the tool starts may keep a pipe open forever.
    let out = FileManager.default.temporaryDirectory.appendingPathComponent("smig-tool-\(UUID().uuidString).out")
    FileManager.default.createFile(atPath: out.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: out) }
    let handle = try FileHandle(forWritingTo: out)
    p.standardOutput = handle
    p.standardError = handle
    try p.run()
    p.waitUntilExit()
    try handle.close()
    return (p.terminationStatus, (try? String(contentsOf: out, encoding: .utf8)) ?? "")
}

/// The repository root (for swtpm-setup/).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
