#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SmigTestSupport
import Swtpm
import Testing

/// `bench migrate` (QEMU) moves the guest four ways each run — bare QMP twice, the orchestrator, and the order path
/// through two agents' QEMU VM managers — and says so in JSON, each smig-attest row with its ratio to tuned QMP.
@Suite("bench migrate, QEMU over QMP and through the agents' orders", .serialized)
struct BenchMigrateQEMULiveTests {
    @Test func everyWayMovesTheGuestAndTheOrderPathIsMeasuredAgainstTunedQMP() async throws {
        try #require(Executables.which("qemu-system-x86_64") != nil, "qemu-system-x86_64 is required (never skipped)")
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smb-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = 24000 + Int(getpid() % 50) * 100
        let run = try await Spawn.run(try TestBinaries.smigAttest(), ["bench", "migrate", "--sizes", "32", "--runs", "1", "--base-port", "\(base)",
                                                                       "--work-dir", dir, "--json"], seconds: 600)
        #expect(run.status == 0, "\(run.output)")
        let start = try #require(run.output.firstIndex(of: "{")), end = try #require(run.output.lastIndex(of: "}"))
        let report = try #require(try JSONSerialization.jsonObject(with: Data(run.output[start...end].utf8)) as? [String: Any])
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(rows.compactMap { $0["mode"] as? String } == ["qmp-default", "qmp-tuned", "smig-attest", "smig-attest-orders"], "\(rows)")
        #expect(rows.allSatisfy { ($0["totalMsP50"] as? Double ?? 0) > 0 && $0["memoryMiB"] as? Int == 32 }, "\(rows)")
        let tuned = try #require(rows[1]["totalMsP50"] as? Double), orders = try #require(rows[3]["totalMsP50"] as? Double)
        let ratio = try #require(rows[3]["ratioToTunedQMP"] as? Double)
        #expect(abs(ratio - orders / tuned) < 1e-9)
        // The order path's journals: one record per order of the move, each ended `done`.
        let journal = try FileManager.default.contentsOfDirectory(atPath: "\(dir)/bench-oa/orders") + FileManager.default.contentsOfDirectory(atPath: "\(dir)/bench-ob/orders")
        #expect(journal.contains { $0.hasSuffix("-migrate-source.json") } && journal.contains { $0.hasSuffix("-prepare-target.json") }, "\(journal)")
        // No QEMU left behind.
        let left = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).filter { entry in
            guard Int32(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(dir)
        }
        #expect(left.isEmpty, "\(left)")
    }
}
