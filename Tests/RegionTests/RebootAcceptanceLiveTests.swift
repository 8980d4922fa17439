import Foundation
import RegionLab
import RegionTCB
import SmigTestSupport
import SyntheticBootLogs
import Testing

@Suite("A live region: accepting a reboot", .serialized)
struct RebootAcceptanceLiveTests {
    /// Hosts without a measured boot log. host-2 (`boot-log: required`, the default) is stuck `rebooted` after a TPM
    /// reset, and stays so after a re-admission and a new enrolment, until the operator accepts the reboot through
    /// the binary: then its next verified quote is trusted, and both steps are in the audit trail with the reason.
    /// host-3 (`boot-log: optional`) is trusted again after its reset without a boot log, recorded.
    @Test func theOperatorAcceptsAndThePolicyAccepts() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3, hostKeys: { id, _ in id == "host-3" ? ", boot-log: optional" : "" })
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        let admin = ["--rctcb", r.url, "--dir", r.rctcbDir]

        // Nothing to accept yet: a coded refusal, nothing recorded.
        let early = try ToolRun.run(r.options.binary, ["rctcb", "accept-reboot", "host-2", "--reason", "too early", "--json"] + admin)
        #expect(early.status == 1 && LoopbackRegion.code(early) == "reboot.not-pending", "\(early.output)")
        #expect(try r.store().events(host: "host-2").contains { $0.kind == "accept-reboot" } == false)
        let unknown = try ToolRun.run(r.options.binary, ["rctcb", "accept-reboot", "host-9", "--reason", "x", "--json"] + admin)
        #expect(unknown.status == 1 && LoopbackRegion.code(unknown) == "host.unknown", "\(unknown.output)")

        for i in [1, 2] {
            r.stopAgent(i)
            try r.resetTPM(i, extending: BootEventLogBuilder(firmware: "host-\(i + 1) firmware 1.0"))
            try r.startAgent(i)
        }
        try await r.wait("host-2 waits for a boot log", seconds: 120) { rows in
            rows.first { $0.host == "host-2" }?.failureCode == "reboot.boot-log-missing"
        }
        // host-3's policy accepts the reset without a boot log: trusted again, recorded.
        try await r.wait("host-3 trusted again", seconds: 120) { rows in
            let accepted = (try? r.store().events(host: "host-3").contains { $0.kind == "reboot-accepted" }) == true
            return accepted && rows.first { $0.host == "host-3" }?.state == .trusted
        }
        let host3 = try r.store().events(host: "host-3")
        #expect(host3.contains { $0.newState == "rebooted" })
        #expect(host3.contains { $0.kind == "reboot-accepted" && $0.code == "reboot.accepted-without-boot-log" }, "\(host3)")

        // Re-admitted and enrolled again, host-2 still waits for its boot log.
        r.stopAgent(1)
        try r.run(["rctcb", "readmit", "host-2", "--dir", r.rctcbDir])
        let enrolled = try r.enrol(as: "host-2", tcti: r.hosts[1].tcti, state: r.hosts[1].stateDirectory)
        #expect(enrolled.status == 0, "\(enrolled.output)")
        try r.startAgent(1)
        try await r.wait("host-2 still waits after enrolment", seconds: 120) { rows in
            let row = rows.first { $0.host == "host-2" }
            return row?.state == .rebooted && row?.failureCode == "reboot.boot-log-missing"
        }

        // A reason the trail cannot keep is refused before anything is recorded.
        let bad = try ToolRun.run(r.options.binary, ["rctcb", "accept-reboot", "host-2", "--reason", " ", "--json"] + admin)
        #expect(bad.status == 1 && LoopbackRegion.code(bad) == "reboot.bad-reason", "\(bad.output)")

        let reason = "no measured boot on this host; BIOS update by ops"
        let accepted = try r.run(["rctcb", "accept-reboot", "host-2", "--reason", reason, "--json"] + admin)
        #expect(accepted.contains("\"eventSeq\""), "\(accepted)")
        try await r.wait("host-2 trusted after the operator accepted", seconds: 120) { rows in rows.first { $0.host == "host-2" }?.state == .trusted }
        let host2 = try r.store().events(host: "host-2")
        let acceptance = try #require(host2.first { $0.kind == "accept-reboot" })
        #expect(acceptance.detail == reason)
        let trusted = try #require(host2.first { $0.kind == "reboot-accepted" })
        #expect(trusted.code == "reboot.accepted-by-operator" && trusted.detail?.contains(reason) == true && trusted.seq > acceptance.seq)
        let row = try #require(try r.row("host-2"))
        #expect(row.bootLogPending == false && row.rebootAcceptance == nil)
        #expect(try r.state("host-1") == .trusted && r.state("host-3") == .trusted)
    }
}
