import Foundation
import SmigTestSupport
import Testing

/// `host show`, `rctcb accept-reboot` and `rctcb certs` through the binary against a real `rctcb serve` whose hosts
/// never enrolled: what an operator sees of a new region, and the coded refusals.
@Suite("host show, accept-reboot, certs")
struct HostOperatorCLITests {
    @Test func aNewRegionThroughTheBinary() throws {
        let region = try RegionFixture()
        let (server, url) = try region.serve("rctcb")
        defer { server.stop() }
        let admin = ["--rctcb", url, "--dir", region.dir]

        let shown = try Run.smig(["host", "show", "host-a"] + admin)
        #expect(shown.status == 0 && shown.output.contains("state:        unknown") && shown.output.contains("host-added"), "\(shown.output)")
        let json = try Run.smig(["host", "show", "host-a", "--json"] + admin).json()
        #expect((json["row"] as? [String: Any])?["host"] as? String == "host-a" && (json["evidence"] as? [Any])?.isEmpty == true, "\(json)")
        let unknown = try Run.smig(["host", "show", "host-z", "--json"] + admin)
        #expect(unknown.status == 1 && unknown.output.contains("\"host.unknown\""), "\(unknown.output)")

        let early = try Run.smig(["rctcb", "accept-reboot", "host-a", "--reason", "ops", "--json"] + admin)
        #expect(early.status == 1 && early.output.contains("\"reboot.not-pending\""), "\(early.output)")
        let noReason = try Run.smig(["rctcb", "accept-reboot", "host-a"] + admin)
        #expect(noReason.status == 2, "\(noReason.output)")

        let certs = try Run.smig(["rctcb", "certs", "--dir", region.dir])
        #expect(certs.status == 0 && certs.output.contains("HOST") && certs.output.contains("DAYS LEFT") && !certs.output.contains("host-a"), "\(certs.output)")
        let missing = try Run.smig(["rctcb", "certs", "--dir", region.path("nowhere"), "--json"])
        #expect(missing.status == 2 && missing.output.contains("rctcb.directory-missing"), "\(missing.output)")
    }
}
