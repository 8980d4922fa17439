import Foundation
import Migration
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

/// The evacuations as an operator reads them (`smig-attest evacuations --json`, the real binary).
extension LoopbackRegion {
    func evacuations() throws -> [EvacuationRecord] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let text = try run(["evacuations", "--rctcb", url, "--dir", rctcbDir, "--json"])
        return try decoder.decode([EvacuationRecord].self, from: Data(text.utf8))
    }
}

@Suite("Evacuation capacity and cause in a live region", .serialized)
struct EvacuationCapacityLiveTests {
    /// `max-parallel: 4`, four VMs on a compromised host and one trusted target with a single port pair (two
    /// incoming migrations at a time): every VM moves — the overflow waits for a port, nothing is paused, no move
    /// fails for want of a port — and the evacuation still names its cause after later verdicts of another kind.
    @Test func fourVMsLeaveThroughTwoPortsAndTheCauseIsKept() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 2, policyExtra: "evacuation: {max-parallel: 4, no-target: pause}\n")
        defer { r.killGuests() }
        try r.addVMHosts()
        #expect(try r.inventory().host(named: "host-2").ports.count == 2)
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        let vms = ["vm-1", "vm-2", "vm-3", "vm-4"]
        for vm in vms { try await r.startVM(vm, on: "host-1") }

        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
        try await r.wait("host-1 evacuated", seconds: 300) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }
        for vm in vms { #expect(try await r.runsOnce(vm, notOn: "host-1") == "host-2") }
        #expect(try r.inventory().vms().map(\.state) == [.running, .running, .running, .running])
        let events = try r.events()
        #expect(!events.contains { $0.kind == "evacuation.no-target" }, "\(events.filter { $0.kind == "evacuation.no-target" })")
        #expect(!events.contains { $0.kind == "evacuation.migration-failed" || $0.code == "no-free-port" })
        #expect(try r.inventory().migrations(vm: "vm-1").count + r.inventory().migrations(vm: "vm-2").count
                + r.inventory().migrations(vm: "vm-3").count + r.inventory().migrations(vm: "vm-4").count == 4)
        // Two moves had to wait for a port of host-2, and were seen waiting.
        #expect(events.filter { $0.kind == "evacuation.waiting-for-port" }.count >= 2)

        // Later verdicts of another kind: host-1 falls silent. The row and the evacuation keep the verdict that
        // caused it.
        let started = try #require(events.first { $0.kind == "evacuation.started" && $0.host == "host-1" })
        #expect(started.code == "golden.digest-not-allowed", "\(started)")
        r.stopAgent(0)
        try await r.wait("a later verdict: host-1 silent", seconds: 120) { rows in rows.first { $0.host == "host-1" }?.verdictState == .unreachable }
        let row = try #require(try r.rows().first { $0.host == "host-1" })
        #expect(row.state == .evacuated && row.failureCode == "golden.digest-not-allowed", "\(row)")
        let evacuation = try #require(try r.evacuations().first { $0.host == "host-1" })
        #expect(evacuation.causeState == "untrusted")
        #expect(evacuation.causeCode == "golden.digest-not-allowed", "\(evacuation)")
        #expect(evacuation.causeDetail?.contains("hypervisor-1.bin") == true, "\(evacuation)")
        #expect(evacuation.outcome == "evacuated" && evacuation.endedAt != nil, "\(evacuation)")
    }
}
