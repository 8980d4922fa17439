import Foundation
import SmigTestSupport
import Testing

/// One RC-TCB per directory, with two real `rctcb serve` processes.
@Suite("One RC-TCB per directory", .serialized)
struct RCTCBDirectoryCLITests {
    @Test func aSecondServeOnOneDirectoryIsRefusedBeforeItListensOrWrites() throws {
        let r = try RegionFixture()
        let (first, url) = try r.serve("first")
        defer { first.stop() }
        let before = try r.eventCount(url)

        let second = try Run.smig(r.serveArguments("second") + ["--json"])
        #expect(second.status == 1, "\(second.output)")
        let error = try second.jsonError()
        #expect(error["code"] == "rctcb.directory-in-use", "\(second.output)")
        #expect(error["message"]?.contains(URL(fileURLWithPath: r.dir).standardizedFileURL.path) == true, "\(second.output)")
        #expect(error["message"]?.contains("pid \(first.process.processIdentifier)") == true, "\(second.output)")
        #expect(error["hint"] != nil, "\(second.output)")
        let text = try Run.smig(r.serveArguments("second"))
        #expect(text.status == 1 && text.output.hasPrefix("smig-attest: rctcb.directory-in-use: "), "\(text.output)")
        #expect(!FileManager.default.fileExists(atPath: r.path("second.port")), "the refused RC-TCB listened")
        #expect(try r.eventCount(url) == before, "the refused RC-TCB wrote to the IVT")
        #expect(first.process.isRunning)

        // A crashed RC-TCB leaves no stale claim: the directory can be served again at once.
        first.stop(signal: SIGKILL)
        let (third, thirdURL) = try r.serve("third")
        defer { third.stop() }
        #expect(try r.eventCount(thirdURL) >= before)
    }
}
