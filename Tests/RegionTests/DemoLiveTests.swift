#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NamespaceLab
import SmigTestSupport
import Testing

/// `smig-attest demo`, the README's main command, end to end through the real binary, on both labs: three libvirt
/// hosts in namespaces (each with its own libvirtd, swtpm and agent; the guests libvirt domains the demo defines with
/// virsh) and five hosts on loopback (QEMU hypervisors and ticker guests the region starts). Each must end with the
/// compromised host evacuated and every VM running exactly once on a trusted host, still counting, say which lab it
/// ran on, and leave nothing behind.
@Suite("The demo")
struct DemoLiveTests {
    struct Placement: Decodable { var vm: String; var host: String?; var copies: Int; var hostState: String?; var counterGrows: Bool }
    struct Step: Decodable { var ms: Int; var host: String?; var kind: String }
    struct Result: Decodable {
        var lab: String; var fallback: String?
        var compromised: String; var compromisedState: String; var timeline: [Step]; var placement: [Placement]; var ok: Bool
    }

    /// The work directories in TMPDIR with `prefix` whose owner (the pid in the file `owner`) is gone.
    static func leftBehind(_ prefix: String, length: Int, owner: String) throws -> Set<String> {
        let temporary = NSTemporaryDirectory()
        return Set(try FileManager.default.contentsOfDirectory(atPath: temporary).filter { $0.hasPrefix(prefix) && $0.count == prefix.count + length }.filter { name in
            guard let text = try? String(contentsOfFile: "\(temporary)/\(name)/\(owner)", encoding: .utf8) else { return true }
            return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)).map { kill($0, 0) != 0 } ?? true
        })
    }

    static func run(_ arguments: [String]) async throws -> Result {
        let binary = try TestBinaries.smigAttest()
        let before = try leftBehind("smig-region-", length: 8, owner: "owner").union(try leftBehind(LibvirtHosts.directoryPrefix, length: 8, owner: "owner.pid"))
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let run = try await Spawn.run(binary, ["demo", "--json"] + arguments, seconds: 900)
        #expect(run.status == 0, "\(run.output.suffix(4000))")
        let json = try #require(run.output.firstIndex(of: "{").map { String(run.output[$0...]) })
        let result = try JSONDecoder().decode(Result.self, from: Data(json.utf8))
        #expect(result.ok)
        #expect(result.compromisedState == "evacuated")
        for p in result.placement {
            #expect(p.copies == 1 && p.hostState == "trusted" && p.counterGrows && p.host != result.compromised, "\(p)")
        }
        let kinds = result.timeline.map(\.kind)
        for k in ["state", "evacuation.target-challenged", "evacuation.migration-started", "evacuation.target-reattested", "evacuation.resumed", "evacuation.finished"] {
            #expect(kinds.contains(k), "\(kinds)")
        }
        // Nothing left behind: no work directory or namespace lab of the demo (every process of a lab lives in it).
        let after = try leftBehind("smig-region-", length: 8, owner: "owner").union(try leftBehind(LibvirtHosts.directoryPrefix, length: 8, owner: "owner.pid"))
        #expect(after.subtracting(before).isEmpty, "\(after.subtracting(before))")
        return result
    }

    @Test func threeLibvirtHostsInNamespaces() async throws {
        let result = try await Self.run(["--lab", "namespaces"])
        #expect(result.lab == "namespaces" && result.fallback == nil)
        #expect(result.placement.count == 3)
    }

    @Test func fiveHostsOnLoopback() async throws {
        let result = try await Self.run(["--lab", "loopback"])
        #expect(result.lab == "loopback" && result.fallback == nil)
        #expect(result.placement.count == 10)
    }
}
