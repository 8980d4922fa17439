import Foundation
import NamespaceLab
import SmigTestSupport
import Testing

/// `bench migrate --driver libvirt` on the two-host libvirt lab: both ways move the guest each run, and the report
/// says so in JSON; without the hosts' URIs it refuses to start.
@Suite("bench migrate --driver libvirt, on two libvirt hosts", .serialized)
struct BenchMigrateLibvirtLiveTests {
    @Test func bothWaysMoveTheGuestAndTheRatioIsOverVirsh() async throws {
        let binary = try TestBinaries.smigAttest()
        let refused = try await Spawn.run(binary, ["bench", "migrate", "--driver", "libvirt", "--sizes", "64"])
        #expect(refused.status == 2 && refused.output.contains("--driver libvirt needs --source-uri, --target-uri and --target-migration-uri"), "\(refused.output)")
        let stray = try await Spawn.run(binary, ["bench", "migrate", "--target-uri", "qemu:///system"])
        #expect(stray.status == 2 && stray.output.contains("are for --driver libvirt"), "\(stray.output)")

        try await LibvirtLab.run { lab in
            let run = try await Spawn.run(binary, ["bench", "migrate", "--driver", "libvirt", "--source-uri", lab.a.localURI, "--target-uri", lab.b.localURI,
                                                   "--target-migration-uri", lab.b.tcpURI, "--sizes", "64", "--runs", "1", "--json"], seconds: 600)
            #expect(run.status == 0, "\(run.output)")
            let start = try #require(run.output.firstIndex(of: "{")), end = try #require(run.output.lastIndex(of: "}"))
            let report = try #require(try JSONSerialization.jsonObject(with: Data(run.output[start...end].utf8)) as? [String: Any])
            #expect(report["driver"] as? String == "libvirt" && report["benchmark"] as? String == "migrate")
            let rows = try #require(report["rows"] as? [[String: Any]])
            #expect(rows.compactMap { $0["mode"] as? String } == ["virsh", "smig-attest"], "\(rows)")
            #expect(rows.allSatisfy { ($0["totalMsP50"] as? Double ?? 0) > 0 && $0["memoryMiB"] as? Int == 64 }, "\(rows)")
            let ratio = try #require(rows.last?["ratioToVirsh"] as? Double)
            let virsh = try #require(rows.first?["totalMsP50"] as? Double), smig = try #require(rows.last?["totalMsP50"] as? Double)
            #expect(abs(ratio - smig / virsh) < 1e-9)
            // Nothing left behind on either host.
            #expect(try await AgentOrderLiveTests.domains(lab, lab.a).isEmpty)
            #expect(try await AgentOrderLiveTests.domains(lab, lab.b).isEmpty)
        }
    }
}
