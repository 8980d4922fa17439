import Foundation
import Testing

/// `rctcb serve`'s agent request budget as an operator sets it.
@Suite("rctcb serve options")
struct RCTCBServeOptionsTests {
    @Test(arguments: ["-1", "1000001", "nan"])
    func aBudgetOutOfRangeIsRefusedBeforeAnythingStarts(_ value: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-budget-\(UUID().uuidString)").path
        let run = try Run.smig(["rctcb", "serve", "--region", "\(dir)/region.yaml", "--dir", dir, "--agent-requests-per-second", value])
        #expect(run.status == 2, "\(run.output)")
        #expect(run.output.contains("usage.invalid") && run.output.contains("--agent-requests-per-second"), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func helpExplainsTheBudget() throws {
        let run = try Run.smig(["rctcb", "serve", "--help"])
        #expect(run.status == 0)
        #expect(run.output.contains("--agent-requests-per-second") && run.output.contains("request.rate-limited")
                && run.output.contains("(default: 50.0)"), "\(run.output)")
    }
}
