import Foundation
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

@Suite("A live region: a host's network cut", .serialized)
struct RegionNetnsLiveTests {
    /// The last host lives in its own network namespace (its swtpm and agent inside, a veth to the root
    /// namespace). Cutting the link makes it `unreachable` (and the policy evacuates it), never `untrusted`;
    /// restoring the link makes it `trusted`.
    @Test func cutNetworkIsUnreachableNotUntrusted() async throws {
        let ns = try NetworkNamespace()
        defer {
            ns.destroy()
            #expect(!ns.exists, "network namespace \(ns.name) left behind")
        }
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3, netns: ns)
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        #expect(try r.row("host-3")?.address == ns.nsAddress)

        try ns.cut()
        // Silence is `unreachable` (the region policy then evacuates the host: `evacuating`, `evacuated`, keeping
        // the failure code); never `untrusted`.
        let silentStates: Set<HostState> = [.unreachable, .evacuating, .evacuated]
        try await r.wait("host-3 unreachable", seconds: 90) { _ in
            (try? r.store().events().contains { $0.host == "host-3" && $0.newState == "unreachable" && $0.code == "host.unreachable" }) ?? false
        }
        let end = Date().addingTimeInterval(3)
        while Date() < end {
            let row = try #require(try r.row("host-3"))
            #expect(silentStates.contains(row.state) && row.failureCode == "host.unreachable", "\(row)")
            try await Task.sleep(for: .milliseconds(250))
        }
        #expect(try !r.store().events().contains { $0.host == "host-3" && $0.newState == "untrusted" })
        #expect(try r.state("host-1") == .trusted && r.state("host-2") == .trusted)

        try ns.restore()
        try await r.wait("host-3 trusted again", seconds: 90) { rows in rows.first { $0.host == "host-3" }?.state == .trusted }
        withExtendedLifetime(r) {}
    }
}
