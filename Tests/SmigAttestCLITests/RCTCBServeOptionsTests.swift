import Foundation
import Testing

/// `rctcb serve`'s budgets (requests per agent certificate, enrolment requests and new connections per address) as an
/// operator sets them.
@Suite("rctcb serve options")
struct RCTCBServeOptionsTests {
    @Test(arguments: ["--agent-requests-per-second", "--enrolment-requests-per-second", "--new-connections-per-second"], ["-1", "1000001", "nan"])
    // `=` keeps "-1" a value (apart, the parser reads it as an option and never asks the range).
    func aBudgetOutOfRangeIsRefusedBeforeAnythingStarts(_ option: String, _ value: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-budget-\(UUID().uuidString)").path
        let run = try Run.smig(["rctcb", "serve", "--region", "\(dir)/region.yaml", "--dir", dir, "\(option)=\(value)"])
        #expect(run.status == 2, "\(run.output)")
        #expect(run.output.contains("usage.invalid") && run.output.contains("\(option) must be 0 (no limit) to 1000000"), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func helpExplainsTheBudgets() throws {
        let run = try Run.smig(["rctcb", "serve", "--help"])
        #expect(run.status == 0)
        #expect(run.output.contains("--agent-requests-per-second") && run.output.contains("request.rate-limited")
                && run.output.contains("(default: 50.0)"), "\(run.output)")
        // The help wraps its lines wherever it likes.
        let words = run.output.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(words.contains("--enrolment-requests-per-second") && words.contains("an IPv6 address counts by its /64")
                && words.contains("(default: 10.0)") && words.contains("`agent enrol` waits and tries again"), "\(run.output)")
        #expect(words.contains("--new-connections-per-second <n> New connections one client address may open per second")
                && words.contains("before their TLS handshake") && words.contains("(default: 50.0)"), "\(run.output)")
    }
}
