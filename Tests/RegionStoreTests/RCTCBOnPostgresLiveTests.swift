import Attestation
import Foundation
import RegionLab
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// `rctcb serve --store postgresql://…` as an operator runs it: real agents on swtpm enrol and are judged, and
/// everything the RC-TCB keeps — enrolments, certificates, verdicts, evidence, the audit trail — is in PostgreSQL,
/// not in the RC-TCB's directory; another RC-TCB process with a directory of its own takes over from the rows.
@Suite("RC-TCB on PostgreSQL", .serialized, .timeLimit(.minutes(30)))
struct RCTCBOnPostgresLiveTests {
    @Test func enrolsAndJudgesInPostgresAndASecondProcessGoesOnFromTheRows() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 3, rctcbs: 2) { r in
            try r.region.startRCTCB(0)
            try r.region.enrolAndStartAgents(via: 0)
            try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }

            // The enrolments, certificates and evidence are the store's; the RC-TCB's own SQLite file has none.
            for h in r.hosts {
                let e = try #require(try await r.store.enrolment(h.id))
                #expect(!e.revoked && !e.akPublic.isEmpty)
            }
            #expect(try await r.store.certificates().filter(\.current).map(\.host).sorted() == ["host-1", "host-2", "host-3"])
            try await waitUntilAsync("evidence kept", seconds: 60) { try await !r.store.evidence(host: "host-1", bundles: false).isEmpty }
            let kept = try #require(try await r.store.evidence(host: "host-1", bundles: true).first)
            #expect(kept.bundle?.hostId == "host-1")
            let local = try IVTStore(path: "\(r.region.rctcbDir(0))/ivt.sqlite")
            #expect(try local.enrolment("host-1") == nil)
            #expect(try local.rows().allSatisfy { $0.state == .unknown })

            // The first RC-TCB stops; a second process, whose directory was copied before anything was enrolled,
            // takes its address and judges the same agents with the enrolled AKs it reads from the store.
            r.region.stopRCTCB(0)
            let before = Dictionary(uniqueKeysWithValues: try await r.rows().map { ($0.host, $0.lastQuoteAt ?? .distantPast) })
            try r.region.startRCTCB(1, port: r.rctcbPorts[0])
            try await r.wait("judged again by the second RC-TCB") { rows in
                rows.count == 3 && rows.allSatisfy { $0.state == .trusted && ($0.lastQuoteAt ?? .distantPast) > before[$0.host]! }
            }
            let events = try await r.store.events(since: 0, host: nil, limit: 10_000)
            #expect(events.filter { $0.kind == "host-added" }.count == 3, "the second process's seed added no host again")
            #expect(events.filter { $0.kind == "enrolled" }.map { $0.host ?? "" }.sorted() == ["host-1", "host-2", "host-3"])
            #expect(try IVTStore(path: "\(r.region.rctcbDir(1))/ivt.sqlite").enrolment("host-1") == nil)
        }
    }
}
