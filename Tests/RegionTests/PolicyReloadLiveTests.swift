import Foundation
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

/// The region policy reloaded in a running RC-TCB (real `rctcb serve`, agents, swtpm): an accepted hypervisor
/// update takes effect without a restart; a bad policy, or one that changes what only a restart applies, is refused
/// and the running policy stays in force; every reload is audited with the policy's digest; SIGHUP does the same.
@Suite("Region policy reload", .serialized)
struct PolicyReloadLiveTests {
    @Test func anAcceptedUpdateTakesEffectWithoutARestart() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 2)
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        let started = try #require(try r.rows().first { $0.host == "host-1" }?.policyDigest)
        let server = try #require(r.rctcbProcess(0))

        // host-1's hypervisor is updated: under the running policy its measurement is not a golden one.
        try Data("updated hypervisor 1".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
        try await waitUntilAsync("host-1 untrusted", seconds: 180) {
            try r.events().contains { $0.host == "host-1" && $0.newState == "untrusted" }
        }
        let reload = ["rctcb", "reload", "--dir", r.rctcbDir, "--rctcb", r.url, "--json"]

        // A bad edit of the region file: refused with the file, line and column; the running policy stays.
        let good = try String(contentsOfFile: r.regionFile, encoding: .utf8)
        try (good + "bogus-key: 1\n").write(toFile: r.regionFile, atomically: true, encoding: .utf8)
        let bad = try ToolRun.run(r.options.binary, reload)
        #expect(bad.status == 1 && LoopbackRegion.code(bad) == "policy.unknown-key" && bad.output.contains("region.yaml:"), "\(bad.output)")
        // A change that only a restart applies: refused, naming what changed.
        try good.replacingOccurrences(of: "unreachable-timeout: 10s", with: "unreachable-timeout: 20s")
            .write(toFile: r.regionFile, atomically: true, encoding: .utf8)
        let restart = try ToolRun.run(r.options.binary, reload)
        #expect(restart.status == 1 && LoopbackRegion.code(restart) == "policy.reload-needs-restart" && restart.output.contains("unreachable-timeout"),
                "\(restart.output)")
        try good.write(toFile: r.regionFile, atomically: true, encoding: .utf8)
        #expect(try r.state("host-1") != .trusted)

        // The operator accepts the update: its digest is added to host-1's golden file (the measurement log still
        // holds the old one too) and the policy reloaded.
        let captured = try r.run(["golden", "capture", "--source", "file:\(r.hosts[0].hypervisorFile ?? "")"])
        let updated = String(try #require(captured.firstMatch(of: /\n      - ([0-9a-f]{64})\n/)).1)
        let goldenFile = URL(fileURLWithPath: r.dir).appendingPathComponent("golden-1.yaml")
        let golden = try String(contentsOf: goldenFile, encoding: .utf8)
        let listed = try #require(golden.firstMatch(of: /\n      - [0-9a-f]{64}\n/))
        try golden.replacingCharacters(in: listed.range, with: "\(listed.output)      - \(updated)\n").write(to: goldenFile, atomically: true, encoding: .utf8)
        let answer = try ToolRun.run(r.options.binary, reload)
        #expect(answer.status == 0, "\(answer.output)")
        let outcome = try JSONDecoder().decode(PolicyReloader.Outcome.self, from: Data(answer.output.utf8))
        #expect(outcome.goldenChanged == ["host-1"] && outcome.previousDigest == started && outcome.digest != started, "\(outcome)")
        try await r.wait("host-1 trusted under the reloaded policy", seconds: 180) { rows in
            rows.first { $0.host == "host-1" }.map { $0.state == .trusted && $0.policyDigest == outcome.digest } ?? false
        }

        // Each reload is an audit event with the policy's digest.
        let audited = try r.events().filter { $0.kind.hasPrefix("policy-") }
        #expect(audited.map(\.kind) == ["policy-reload-refused", "policy-reload-refused", "policy-reloaded"], "\(audited.map(\.kind))")
        #expect(audited.map { $0.code ?? "-" } == ["policy.unknown-key", "policy.reload-needs-restart", "-"])
        #expect(audited.last?.detail?.contains(outcome.digest) == true && audited.last?.detail?.contains("golden values changed: host-1") == true)

        // SIGHUP (the unit's ExecReload) reloads too, and does not stop the RC-TCB.
        kill(server.processIdentifier, SIGHUP)
        try await waitUntilAsync("the SIGHUP reload audited", seconds: 60) {
            try r.events().contains { $0.kind == "policy-reloaded" && $0.detail?.contains("by SIGHUP") == true }
        }
        #expect(server.isRunning)
        #expect(try r.rows().allSatisfy { $0.state == .trusted })
    }
}
