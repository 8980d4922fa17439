import Foundation
import Migration
import RegionLab
import RegionTCB
import SmigTestSupport
import Swtpm
import Testing

/// A host whose TPM is reset while it is being evacuated (real `rctcb serve` and `agent run` processes, swtpm, QEMU
/// guests): the reboot is remembered through `evacuating` and `evacuated`, and the host comes back `rebooted` — never
/// `trusted` without a boot log that replays.
@Suite("A reboot while evacuating", .serialized)
struct RebootWhileEvacuatingLiveTests {
    @Test func aRebootDuringAnEvacuationIsNotForgottenOnceItsVMsHaveMoved() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 2, policyExtra: "evacuation: {max-parallel: 4, no-target: pause}\n")
        defer { r.killGuests() }
        try r.addVMHosts()
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        try await r.startVM("vm-r1", on: "host-1")

        // No target for now: host-2 falls silent (it holds no VM, so it is only `unreachable`).
        r.stopAgent(1)
        try await r.wait("host-2 unreachable", seconds: 180) { rows in rows.first { $0.host == "host-2" }?.state == .unreachable }
        // host-1 falls silent too: it is evacuated, and with no target its VM is held paused where it is.
        r.stopAgent(0)
        try await r.wait("host-1 evacuating", seconds: 180) { rows in rows.first { $0.host == "host-1" }?.state == .evacuating }

        // host-1's TPM is reset (an orderly shutdown, so its clock stays safe); its agent comes back without a boot log.
        let tpm = r.hosts[0].swtpm
        _ = try ToolRun.run("tpm2_shutdown", ["-T", tpm.tcti, "-c"])
        tpm.stop()
        try tpm.start()
        try? FileManager.default.removeItem(atPath: "\(r.hosts[0].stateDirectory)/measurements.log")
        // The restarted swtpm listens on new ports: the agent's configuration follows it.
        r.hosts[0].tcti = tpm.tcti
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: r.hosts[0].agentConfig))) as? [String: Any])
        config["tcti"] = tpm.tcti
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: r.hosts[0].agentConfig))
        let rebootedAt = Date()
        try r.startAgent(0)
        try await r.wait("host-1's reboot recorded while evacuating", seconds: 180) { rows in
            guard let row = rows.first(where: { $0.host == "host-1" }) else { return false }
            return row.bootLogPending && (row.lastQuoteAt ?? .distantPast) > rebootedAt
        }
        #expect(try r.state("host-1") == .evacuating)

        // host-2 answers again: the VM moves there and host-1 is emptied.
        try r.startAgent(1)
        // From the audit trail, not the row: `evacuated` lasts only until host-1's next quote, which a poll of the
        // table on a loaded machine can miss.
        try await waitUntilAsync("host-1 evacuated", seconds: 240) { try r.events().contains { $0.host == "host-1" && $0.newState == "evacuated" } }
        #expect(try await r.runsOnce("vm-r1", notOn: "host-1") == "host-2")
        // host-1 keeps answering without a boot log: it is `rebooted`, not `trusted`. (On a loaded machine a slow
        // answer may also make it `unreachable` for a while; it is judged `rebooted` again when it answers.)
        let emptiedAt = Date()
        try await r.wait("host-1 judged rebooted after it was emptied", seconds: 240) { rows in
            guard let row = rows.first(where: { $0.host == "host-1" }) else { return false }
            return (row.lastQuoteAt ?? .distantPast) > emptiedAt && row.state == .rebooted
        }
        let row = try #require(try r.rows().first { $0.host == "host-1" })
        #expect(row.failureCode == "reboot.boot-log-missing" && row.bootLogPending, "\(row)")
        #expect(!(try r.events().contains { $0.host == "host-1" && $0.newState == "trusted" && $0.at > rebootedAt }))
    }
}
