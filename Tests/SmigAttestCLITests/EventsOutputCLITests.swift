import Foundation
import SmigTestSupport
import Testing

/// `events --json` as a script reads it: one JSON array; under `--follow`, JSON Lines that go on across a restart
/// of the RC-TCB and resume after the last event printed.
@Suite("events output", .serialized)
struct EventsOutputCLITests {
    @Test func oneArrayThenJSONLinesAcrossARestart() throws {
        let region = try RegionFixture()
        var (server, url) = try region.serve("first")
        defer { server.stop() }
        let listing = try Run.smig(["events", "--rctcb", url, "--dir", region.dir, "--json"])
        let array = try #require(try JSONSerialization.jsonObject(with: Data(listing.output.utf8)) as? [[String: Any]], "\(listing.output)")
        #expect(array.filter { $0["kind"] as? String == "host-added" }.count == 2, "\(listing.output)")

        let follow = try Daemon(try TestBinaries.smigAttest(), ["events", "--rctcb", url, "--dir", region.dir, "--json", "--follow"],
                                log: URL(fileURLWithPath: region.path("follow.log")))
        defer { follow.stop() }
        func lines() -> [String] { follow.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("{") } }
        try waitUntil("the existing events followed", seconds: 60) { lines().count >= 2 }

        // The RC-TCB stops; an event is written meanwhile; it comes back on the same address.
        server.stop()
        #expect(try Run.smig(["rctcb", "revoke", "host-a", "--dir", region.dir]).status == 0)
        let port = String(try #require(url.split(separator: ":").last))
        server = try Daemon(try TestBinaries.smigAttest(),
                            ["rctcb", "serve", "--region", region.region, "--dir", region.dir, "--port", port, "--port-file", region.path("second.port")],
                            log: URL(fileURLWithPath: region.path("second.log")))
        _ = try server.waitForPort(file: region.path("second.port"))
        try waitUntil("the revocation followed after the restart", seconds: 60) { lines().contains { $0.contains("\"revoked\"") } }

        // Each line is one event, each event once, in order.
        let events = try lines().map { line in try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)") }
        let seqs = events.compactMap { $0["seq"] as? Int }
        #expect(seqs.count == events.count && seqs == seqs.sorted() && Set(seqs).count == seqs.count, "\(follow.output)")
        #expect(follow.output.contains("retrying"), "the follower said it lost the RC-TCB: \(follow.output)")
    }
}
