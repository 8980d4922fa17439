import Foundation
import Swtpm
import RegionLab
import RegionTCB
import SmigTestSupport
import SyntheticBootLogs
import Testing
import TPM
import TPMWire

extension LoopbackRegion {
    /// Merges `changes` into host `i`'s agent configuration file.
    func updateAgentConfig(_ i: Int, _ changes: [String: Any]) throws {
        let url = URL(fileURLWithPath: hosts[i].agentConfig)
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        config.merge(changes) { $1 }
        try JSONSerialization.data(withJSONObject: config).write(to: url)
    }

    /// A TPM reset of host `i` as a reboot causes it: orderly TPM2_Shutdown, swtpm stopped and started again
    /// (TPM2_Startup(CLEAR): resetCount goes up, PCRs are reset), then the firmware's measurements of `bootLog`
    /// extended into PCRs 0-7, and the runtime measurement log begun afresh (a new boot's log).
    func resetTPM(_ i: Int, extending bootLog: BootEventLogBuilder) throws {
        let shutdown = try ToolRun.run("tpm2_shutdown", ["-c", "-T", hosts[i].swtpm.tcti])
        guard shutdown.status == 0 else { throw RegionFixtureFailure(description: "tpm2_shutdown: \(shutdown.output)") }
        hosts[i].swtpm.stop()
        try hosts[i].swtpm.start()
        do {
            let device = try TPMDevice(tcti: hosts[i].swtpm.tcti)
            for e in bootLog.extends() { try device.extendPCR(e.pcr, digests: e.digests) }
        }
        try? FileManager.default.removeItem(atPath: "\(hosts[i].stateDirectory)/measurements.log")
        hosts[i].tcti = hosts[i].swtpm.tcti
        try updateAgentConfig(i, ["tcti": hosts[i].tcti])
    }

    func row(_ id: String) throws -> IVTRow? { try rows().first { $0.host == id } }

    /// Checks for `seconds` that host `id` stays in `state` (the RC-TCB keeps challenging it meanwhile).
    func stays(_ id: String, _ state: HostState, code: String, seconds: Double) async throws {
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            let r = try row(id)
            #expect(r?.state == state && r?.failureCode == code, "\(String(describing: r))")
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

@Suite("A live region: TPM resets", .serialized)
struct RegionRebootLiveTests {
    /// A TPM reset makes the host `rebooted`; it is trusted again only once its evidence carries a boot log that
    /// replays to the quoted boot PCRs. Without a log, and with a log that does not replay, it stays `rebooted`.
    @Test func resetIsRebootedUntilTheBootLogReplays() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3)
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        let before = try #require(try r.row("host-2"))
        let bootLogPath = URL(fileURLWithPath: r.dir).appendingPathComponent("boot-2.bin").path
        let good = BootEventLogBuilder(firmware: "host-2 firmware 1.0")

        r.stopAgent(1)
        try r.resetTPM(1, extending: good)
        try r.updateAgentConfig(1, ["bootLog": bootLogPath])   // no file there yet: no boot log sent
        try r.startAgent(1)
        try await r.wait("host-2 rebooted", seconds: 90) { rows in rows.first { $0.host == "host-2" }?.state == .rebooted }
        let rebooted = try #require(try r.row("host-2"))
        #expect((rebooted.resetCount ?? 0) > (before.resetCount ?? 0))
        #expect(try r.store().events().contains { $0.host == "host-2" && $0.newState == "rebooted" && $0.code == "quote.rebooted" })

        // No boot log: it stays rebooted, saying why.
        try await r.wait("boot log missing", seconds: 90) { rows in rows.first { $0.host == "host-2" }?.failureCode == "reboot.boot-log-missing" }
        try await r.stays("host-2", .rebooted, code: "reboot.boot-log-missing", seconds: 3)

        // Attack: a boot log of other firmware (it does not replay to the quoted PCRs 0-7) keeps it rebooted.
        try Data(BootEventLogBuilder(firmware: "host-2 evil firmware").bytes()).write(to: URL(fileURLWithPath: bootLogPath))
        try await r.wait("replay mismatch", seconds: 90) { rows in rows.first { $0.host == "host-2" }?.failureCode == "eventlog.replay-mismatch" }
        try await r.stays("host-2", .rebooted, code: "eventlog.replay-mismatch", seconds: 3)
        #expect(try r.store().events().contains { $0.host == "host-2" && $0.newState == "trusted" && $0.oldState == "rebooted" } == false)

        // A malformed log: its parse error code, still rebooted.
        try Data([0x00, 0x01, 0x02]).write(to: URL(fileURLWithPath: bootLogPath))
        try await r.wait("malformed boot log refused", seconds: 90) { rows in
            let row = rows.first { $0.host == "host-2" }
            return row?.state == .rebooted && (row?.failureCode ?? "").hasPrefix("eventlog.") && row?.failureCode != "eventlog.replay-mismatch"
        }

        // The log the firmware really measured: trusted again.
        try Data(good.bytes()).write(to: URL(fileURLWithPath: bootLogPath))
        try await r.wait("host-2 trusted after its boot log replays", seconds: 90) { rows in rows.first { $0.host == "host-2" }?.state == .trusted }
        let events = try r.store().events().filter { $0.host == "host-2" && $0.newState != nil }
        let last = try #require(events.last)
        #expect(last.oldState == "rebooted" && last.newState == "trusted", "\(events)")
        #expect(try r.state("host-1") == .trusted && r.state("host-3") == .trusted)
    }
}
