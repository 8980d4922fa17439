import Foundation
import Swtpm
import SmigTestSupport
import Testing

/// The README's interoperability block, run exactly as written (bash, from the repository's root) on a swtpm at
/// an OS-chosen port: every variable it uses is defined in it, and every command in it succeeds.
@Suite("README interop block")
struct ReadmeInteropTests {
    static let heading = "### Checking our quotes with tpm2-tools, and theirs with us"

    static func block(of readme: String) throws -> String {
        guard let h = readme.range(of: heading), let open = readme.range(of: "```sh\n", range: h.upperBound..<readme.endIndex),
              let close = readme.range(of: "\n```", range: open.upperBound..<readme.endIndex) else {
            throw CLIFixtureFailure(description: "README.md has no sh block under '\(heading)'")
        }
        return String(readme[open.upperBound..<close.lowerBound])
    }

    @Test func theBlockRunsAsTyped() throws {
        guard SoftwareTPM.isAvailable else { throw CLIFixtureFailure(description: "swtpm is required (apt-get install swtpm swtpm-tools); never skipped") }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let block = try Self.block(of: try String(contentsOfFile: "\(root)/README.md", encoding: .utf8))
        let bin = URL(fileURLWithPath: try TestBinaries.smigAttest()).deletingLastPathComponent().path
        // The test's own additions: fail on the first failing command, and stop the swtpm however the block ends.
        let script = "set -euo pipefail\ncd '\(root)'\ntrap 'cd \"\(root)\"; [ -n \"${WORK:-}\" ] && swtpm-setup/swtpm-ctl stop \"$WORK/tpm\" >/dev/null 2>&1; true' EXIT\n" + block
        let r = try ToolRun.run("bash", ["-c", script], environment: [
            "PATH": "\(bin):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")",
            "PORT": "\(try SoftwareTPM.freePortPair())",
            "SMIG_TCTI": "", "TPM2TOOLS_TCTI": "", "SMIG_STATE_DIR": "",
        ])
        #expect(r.status == 0, "\(r.output)")
        let verdicts = r.output.split(separator: "\n").filter { $0.contains("valid") && !$0.contains("invalid") }
        #expect(verdicts.count >= 2, "\(r.output)")
    }
}
