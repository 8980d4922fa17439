import Foundation
import Testing

/// `--version` names the build, and completions are a listed command, through the real binary.
@Suite("Version and completions")
struct VersionCLITests {
    /// The repository this test file is in (the tree the binary was built from).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test func versionNamesTheCommitAndTheDay() throws {
        let r = try Run.smig(["--version"])
        #expect(r.status == 0, "\(r.output)")
        let line = r.output.trimmingCharacters(in: .whitespacesAndNewlines)
        let match = try #require(line.wholeMatch(of: /(\d+\.\d+\.\d+) \(commit ([0-9a-f]{12})(-dirty)?, built (\d{4}-\d{2}-\d{2})\)/), "\(line)")
        // The commit is one of this repository's (the build ran git in it).
        let known = try Run.tool("git", ["-C", Self.repository, "cat-file", "-e", "\(match.2)^{commit}"])
        #expect(known.status == 0, "\(match.2) is not a commit of \(Self.repository): \(known.output)")
        #expect(match.4 <= Substring(Date().formatted(.iso8601.year().month().day())), "built in the future: \(line)")
    }

    @Test func completionsAreListedAndCoverTheCommandTree() throws {
        let help = try Run.smig(["--help"])
        #expect(help.output.contains("completions") && help.output.contains("--version names the build"), "\(help.output)")
        for shell in ["bash", "zsh", "fish"] {
            let r = try Run.smig(["completions", shell])
            #expect(r.status == 0, "\(r.output)")
            for command in ["verify", "rctcb", "ivt", "completions"] { #expect(r.output.contains(command), "\(shell): no \(command)") }
        }
        let bad = try Run.smig(["completions", "tcsh", "--json"])
        #expect(bad.status == 2)
        #expect(try bad.jsonError()["code"] == "usage.invalid")
    }
}
