import Foundation
import SmigTestSupport
import Testing

/// `bench failover` through the real binary, one run: its own PostgreSQL cluster, two `rctcb serve` processes, a
/// QEMU guest; the leader is SIGKILLed once and SIGTERMed once, and both measurements come back for each.
@Suite("bench failover, end to end", .timeLimit(.minutes(30)))
struct BenchFailoverLiveTests {
    @Test func oneRunMeasuresBothFailovers() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await Spawn.run(try TestBinaries.smigAttest(), ["bench", "failover", "--runs", "1", "--json"], seconds: 600)
        #expect(r.status == 0, "\(r.output.suffix(3000))")
        let json = try #require(r.output.firstIndex(of: "{").map { String(r.output[$0...]) }, "\(r.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object["benchmark"] as? String == "failover" && object["targetMet"] is Bool, "\(object)")
        let lease = try #require(object["leaseSeconds"] as? Double)
        let trials = try #require(object["trials"] as? [[String: Any]])
        #expect(Set(trials.compactMap { $0["departure"] as? String }) == ["killed", "stopped"], "\(trials)")
        for t in trials {
            #expect(((t["firstVerdict"] as? Double) ?? 0) > 0 && ((t["firstEvacuationStep"] as? Double) ?? 0) > 0, "\(t)")
        }
        // After a SIGKILL no follower leads before the lease runs out: at least the lease less one renewal period.
        let killed = try #require(trials.first { $0["departure"] as? String == "killed" })
        #expect(((killed["firstEvacuationStep"] as? Double) ?? 0) >= lease * 2 / 3 - 0.05, "\(killed)")
        let rows = try #require(object["rows"] as? [[String: Any]])
        #expect(rows.count == 2 && rows.allSatisfy { (($0["firstVerdict"] as? [String: Any])?["p99"] as? Double) != nil }, "\(rows)")
    }
}
