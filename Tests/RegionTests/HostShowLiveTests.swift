import Attestation
import Foundation
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

@Suite("A live region: host show", .serialized)
struct HostShowLiveTests {
    /// A tampered hypervisor through the binary: `host show` names the failing measurement (the file, its PCR and
    /// the digest found), the history has the state change, and `--evidence` gives the bundle the verdict was
    /// reached on (its quote, PCRs and measurement log). An unknown host is `host.unknown`.
    @Test func showsTheFailingMeasurementAndTheEvidence() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let r = try await LoopbackRegion.live(hosts: 3)
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[1].hypervisorFile ?? ""))
        try await r.wait("host-2 untrusted", seconds: 90) { rows in rows.first { $0.host == "host-2" }?.state == .untrusted }

        let json = try r.run(["host", "show", "host-2", "--evidence", "--json", "--rctcb", r.url, "--dir", r.rctcbDir])
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let report = try decoder.decode(HostReport.self, from: Data(json.utf8))
        #expect(report.row.state == .untrusted)
        let failure = try #require(report.failure)
        #expect(failure.code == "golden.digest-not-allowed")
        let failed = try #require(failure.measurements.first)
        #expect(failed.kind == "digest-not-allowed" && failed.source == "file" && failed.measurement?.contains("hypervisor-2.bin") == true, "\(failed)")
        #expect(failed.actual?.count == 64, "the digest found: \(failed)")
        // The failure is read from the newest evidence with its code; the state change has its own evidence.
        let newest = try #require(report.evidence.first { $0.seq == failure.evidenceSeq })
        #expect(newest.verdict == .untrusted && newest.seq == report.evidence.first { $0.code == failure.code }?.seq)
        let kept = try #require(report.evidence.first { $0.stateChanged && $0.verdict == .untrusted })
        #expect(kept.measuredBy == "rc-tcb" && kept.code == "golden.digest-not-allowed")
        let bundle = try #require(kept.bundle)
        #expect(bundle.hostId == "host-2" && !bundle.attest.isEmpty && !bundle.signature.isEmpty && bundle.pcrs["sha256"]?["15"] != nil)
        #expect(bundle.eventLog?.isEmpty == false)
        #expect(report.history.contains { $0.kind == "state" && $0.newState == "untrusted" && $0.seq == kept.eventSeq })
        #expect(report.history.contains { $0.kind == "enrolled" })
        // Every state change of the host has its evidence kept.
        #expect(report.evidence.filter(\.stateChanged).map(\.verdict).contains(.trusted))

        let text = try r.run(["host", "show", "host-2", "--rctcb", r.url, "--dir", r.rctcbDir])
        #expect(text.contains("failure:      golden.digest-not-allowed") && text.contains("digest-not-allowed: file 'file:"), "\(text)")
        #expect(text.contains("unknown → trusted") && text.contains("trusted → untrusted"), "\(text)")
        #expect(!text.contains("\"attest\""), "no bundle without --evidence: \(text)")

        let unknown = try ToolRun.run(r.options.binary, ["host", "show", "host-9", "--rctcb", r.url, "--dir", r.rctcbDir])
        #expect(unknown.status == 1 && unknown.output.contains("host.unknown"), "\(unknown.output)")
    }
}
