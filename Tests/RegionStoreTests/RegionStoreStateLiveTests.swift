import Attestation
import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing
import TPMWire

/// The rest of what the RC-TCB keeps, the same on SQLite and on a real PostgreSQL server: enrolments and their
/// revocation and re-admission, the certificates issued, the evidence kept with verdicts (within its bound),
/// aggregated refusals, accepted reboots, the VM placement and evacuation records.
@Suite("Region store: enrolments, evidence, evacuations (SQLite and PostgreSQL)", .timeLimit(.minutes(30)))
struct RegionStoreStateLiveTests {
    @Test(arguments: Backend.allCases)
    func enrolmentRevocationReadmissionAndCertificates(_ backend: Backend) async throws {
        try await backend.withStores { stores in
            let s = stores[0]
            try await seedTwoHosts(s)
            #expect(try await s.enrolment("host-a") == nil)
            try await s.recordEnrolment(host: "host-a", akPublic: [1, 2, 3], akName: "000b11", ekCertificate: "ek-a", ekName: "000b22",
                                        ekCertificateSHA256: "aa", now: t0)
            let e = try #require(try await s.enrolment("host-a"))
            #expect(e.akPublic == [1, 2, 3] && e.akName == "000b11" && e.ekCertificate == "ek-a" && !e.revoked && e.enrolledAt == t0)
            let standing = try #require(try await s.enrolmentStanding("host-a"))
            #expect(standing.enrolledAKName == "000b11" && standing.ekName == "000b22" && standing.readmission == nil)
            #expect(try await s.host(enrolledWithEK: "000b22", other: "host-b") == "host-a")
            #expect(try await s.host(enrolledWithEK: "000b22", other: "host-a") == nil)
            let unknown = await #expect(throws: RegionError.self) {
                try await s.recordEnrolment(host: "nobody", akPublic: [1], akName: "x", ekCertificate: "y", ekName: nil, ekCertificateSHA256: nil, now: t0)
            }
            #expect(unknown?.code == .unknownHost)

            let issued = IssuedCertificate(serial: "01", host: "host-a", akName: "000b11", issuedAt: t0, notAfter: t0.addingTimeInterval(86_400),
                                           issuedBy: "enrolment")
            try await s.recordCertificate(issued, audit: nil, now: t0)
            try await s.recordCertificate(IssuedCertificate(serial: "02", host: "host-a", akName: "000b11", issuedAt: t0.addingTimeInterval(10),
                                                            notAfter: t0.addingTimeInterval(90_000), issuedBy: "renewal"),
                                          audit: "certificate-renewed", now: t0.addingTimeInterval(10))
            let certs = try await s.certificates()
            #expect(certs.map(\.serial) == ["02", "01"] && certs.map(\.current) == [true, false])

            try await s.revoke(host: "host-a", now: t0.addingTimeInterval(20))
            #expect(try await s.enrolment("host-a")?.revoked == true)
            #expect(try await s.certificates().allSatisfy { !$0.current })
            #expect(try await s.readmit(host: "host-a", allowing: .sameEK, now: t0.addingTimeInterval(30)) == .name([0x00, 0x0b, 0x22]))
            #expect(try await s.enrolment("host-a") == nil)
            #expect(try await s.enrolmentStanding("host-a")?.readmission == .name([0x00, 0x0b, 0x22]))
            let noBinding = await #expect(throws: RegionError.self) { _ = try await s.readmit(host: "host-b", allowing: .sameEK, now: t0) }
            #expect(noBinding?.code == .noEKBinding)
            let kinds = try await s.events(since: 0, host: "host-a", limit: 100).map(\.kind)
            #expect(kinds == ["host-added", "enrolled", "certificate-renewed", "revoked", "readmitted"])
        }
    }

    @Test(arguments: Backend.allCases)
    func evidenceRefusalsRebootsPlacementAndEvacuations(_ backend: Backend) async throws {
        try await backend.withStores { stores in
            let s = stores[0]
            try await seedTwoHosts(s)
            // Evidence: kept with its verdict, bounded per host.
            let bundle = EvidenceBundle(hostId: "host-a", akPublic: [1], akName: [2], nonce: [3], attest: [4], signature: [5],
                                        selection: PCRSelectionList([]), pcrValues: [], agentTime: t0)
            for i in 1...(EvidenceRetention.recent + 3) {
                _ = try await s.transition(.trusted(facts(i), measuredBy: "host-b"), host: "host-a", judgedUnder: "11",
                                           judged: JudgedEvidence(bundle), now: t0.addingTimeInterval(Double(i)))
            }
            let kept = try await s.evidence(host: "host-a", bundles: true)
            // The newest few, and the one that changed the state (unknown → trusted).
            #expect(kept.count == EvidenceRetention.recent + 1)
            #expect(kept.first?.bundle == bundle && kept.first?.verdict == .trusted && kept.last?.stateChanged == true)
            #expect(try await s.evidence(host: "host-a", bundles: false).allSatisfy { $0.bundle == nil })
            #expect(try await s.evidence(host: "host-b", bundles: false).isEmpty)

            // Refusals aggregate within their window.
            let before = try await s.lastEventSeq()
            for i in 0..<3 {
                try await s.auditAggregated(host: "host-b", kind: "report-refused", code: "quote.bad-nonce", detail: "try \(i)", window: 60,
                                            now: t0.addingTimeInterval(100 + Double(i)))
            }
            let refusals = try await s.events(since: before, host: nil, limit: 100)
            #expect(refusals.count == 1 && refusals.first?.count == 3 && refusals.first?.detail == "try 2")
            #expect(try await s.lastEventSeq() == refusals.first?.seq)
            #expect(try await s.recentEvents(host: "host-b", limit: 1).map(\.kind) == ["report-refused"])

            // An accepted reboot needs one pending.
            let notPending = await #expect(throws: RegionError.self) { _ = try await s.acceptReboot(host: "host-a", reason: "why", now: t0) }
            #expect(notPending?.code == .rebootNotPending)
            _ = try await s.transition(.rebooted(facts(20), measuredBy: "rc-tcb", code: "boot.log-missing", detail: "reset"), host: "host-a",
                                       judgedUnder: nil, judged: nil, now: t0.addingTimeInterval(200))
            let accepted = try await s.acceptReboot(host: "host-a", reason: "firmware update", now: t0.addingTimeInterval(201))
            let last = try await s.lastEventSeq()
            #expect(accepted.state == .rebooted && accepted.eventSeq == last)
            #expect(try await s.row("host-a")?.rebootAcceptance == "firmware update")

            // The VM placement and the evacuation records: one open evacuation per host.
            try await s.setVMs(["host-a": ["vm-2", "vm-1"], "host-b": []], now: t0)
            #expect(try await s.row("host-a")?.vms == ["vm-1", "vm-2"])
            let opened = try await s.openEvacuation(host: "host-a", state: .untrusted, code: "golden.digest-not-allowed", detail: "d", now: t0)
            let again = try await s.openEvacuation(host: "host-a", state: .unreachable, code: nil, detail: nil, now: t0.addingTimeInterval(5))
            #expect(again == opened && opened.endedAt == nil && opened.causeCode == "golden.digest-not-allowed")
            #expect(try await s.currentEvacuation(host: "host-a") == opened)
            try await s.closeEvacuation(host: "host-a", outcome: "evacuated", detail: "no VM left", now: t0.addingTimeInterval(9))
            #expect(try await s.currentEvacuation(host: "host-a") == nil)
            let next = try await s.openEvacuation(host: "host-a", state: .unreachable, code: nil, detail: nil, now: t0.addingTimeInterval(10))
            let all = try await s.evacuations(limit: 10)
            #expect(all.map(\.id) == [next.id, opened.id] && all.last?.outcome == "evacuated" && all.last?.endedAt == t0.addingTimeInterval(9))
        }
    }
}
