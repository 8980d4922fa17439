import Foundation
import SmigTestSupport
import Testing

/// `smig-attest demo`, the README's main command, end to end through the real binary: five hosts with their
/// swtpm, agent, QEMU hypervisor and two ticker guests each, plus the RC-TCB. It must end with the compromised
/// host evacuated and every VM running exactly once on a trusted host, still counting, and leave nothing behind.
@Suite("The demo")
struct DemoLiveTests {
    struct Placement: Decodable { var vm: String; var host: String?; var copies: Int; var hostState: String?; var counterGrows: Bool }
    struct Step: Decodable { var ms: Int; var host: String?; var kind: String }
    struct Result: Decodable { var compromised: String; var compromisedState: String; var timeline: [Step]; var placement: [Placement]; var ok: Bool }

    @Test func fiveHostsEndToEnd() async throws {
        let binary = try TestBinaries.smigAttest()
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("smig-region-") })
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let run = try await Spawn.run(binary, ["demo", "--json"], seconds: 600)
        #expect(run.status == 0, "\(run.output.suffix(4000))")
        let json = try #require(run.output.firstIndex(of: "{").map { String(run.output[$0...]) })
        let result = try JSONDecoder().decode(Result.self, from: Data(json.utf8))
        #expect(result.ok)
        #expect(result.compromisedState == "evacuated")
        #expect(result.placement.count == 10)
        for p in result.placement {
            #expect(p.copies == 1 && p.hostState == "trusted" && p.counterGrows && p.host != result.compromised, "\(p)")
        }
        let kinds = result.timeline.map(\.kind)
        for k in ["state", "evacuation.target-challenged", "evacuation.migration-started", "evacuation.target-reattested", "evacuation.resumed", "evacuation.finished"] {
            #expect(kinds.contains(k), "\(kinds)")
        }
        // Nothing left behind: no work directory, no guest or hypervisor process of the demo.
        let after = Set(try FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory()).filter { $0.hasPrefix("smig-region-") })
        #expect(after.subtracting(before).filter { $0.count == "smig-region-".count + 8 }.isEmpty)
    }
}
