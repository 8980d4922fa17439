import ArgumentParser
import Foundation
import SmigAttestCLI
import Testing

/// Nothing that exists for tests ships as an option of the product: the RC-TCB's step hooks (a crash, a shell
/// command after an evacuation step) live only in the test tool `smig-rctcb-hooked`.
@Suite("The shipped binary has no test hooks")
struct NoTestHooksTests {
    @Test(arguments: ["--crash-after", "--run-after"])
    func rctcbServeRejectsTheHookAsAnUnknownOption(_ option: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-nohooks-\(UUID().uuidString)").path
        let run = try Run.smig(["rctcb", "serve", "--region", "\(dir)/region.yaml", "--dir", dir, option, "evacuation.started=true"])
        #expect(run.status == 2, "\(run.output)")
        #expect(run.output.contains("usage.invalid") && run.output.contains("Unknown option '\(option)'"), "\(run.output)")
        #expect(!FileManager.default.fileExists(atPath: dir))
        #expect(throws: (any Error).self) { try SmigAttest.parseAsRoot(["rctcb", "serve", "--region", "r.yaml", "--dir", dir, option, "x"]) }
    }
}
