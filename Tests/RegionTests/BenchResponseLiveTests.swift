import Foundation
import SmigTestSupport
import Testing

/// `smig-attest bench response --lab namespaces` through the real binary: the loopback paths (push, challenge-only)
/// and, in the same run, the push path on libvirt hosts in namespaces, each trial a compromise answered by a move to
/// another host, the compromised host repaired and re-attested before the next.
@Suite("bench response on both labs")
struct BenchResponseLiveTests {
    struct Row: Decodable { var path: String; var trials: Int; var compromiseToMigrationStart: [String: Double]; var compromiseToResumed: [String: Double] }
    struct Trial: Decodable { var path: String; var compromised: String; var target: String; var migrationStartMs: Double; var resumedMs: Double }
    struct Report: Decodable { var labs: [String]; var rows: [Row]; var trials: [Trial] }

    @Test func namespacePathBesideTheLoopbackPaths() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let run = try await Spawn.run(try TestBinaries.smigAttest(), ["bench", "response", "--lab", "namespaces", "--trials", "2", "--json"], seconds: 1200)
        #expect(run.status == 0, "\(run.output.suffix(4000))")
        let json = try #require(run.output.firstIndex(of: "{").map { String(run.output[$0...]) })
        let report = try JSONDecoder().decode(Report.self, from: Data(json.utf8))
        #expect(report.labs == ["loopback", "namespaces"])
        #expect(report.rows.map(\.path) == ["push", "challenge-only", "namespaces push"])
        for row in report.rows {
            #expect(row.trials == 2, "\(row.path)")
            let start = try #require(row.compromiseToMigrationStart["p50"]), resumed = try #require(row.compromiseToResumed["p50"])
            #expect(start > 0 && resumed > start, "\(row.path): \(row)")
        }
        for trial in report.trials {
            #expect(trial.compromised != trial.target && trial.target != "?", "\(trial.path): \(trial)")
        }
    }
}
