import Attestation
import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing
import TPMWire

/// The region store's behaviour, the same on SQLite and on a real PostgreSQL server: a transition is
/// ``HostTransition`` applied to the row inside one transaction that writes the row and its audit event; racing
/// transitions of one host lose no update; regions that share a PostgreSQL database do not see each other's rows.
@Suite("Region store (SQLite and PostgreSQL)", .timeLimit(.minutes(10)))
struct RegionStoreLiveTests {
    @Test(arguments: Backend.allCases)
    func transitionWritesTheRowAndOneEventTogether(_ backend: Backend) async throws {
        try await backend.withStores { stores in
            let s = stores[0]
            try await seedTwoHosts(s)
            #expect(try await s.rows().map(\.host) == ["host-a", "host-b"])
            #expect(try await s.rows().map(\.state) == [.unknown, .unknown])

            let applied = try #require(try await s.transition(.trusted(facts(1), measuredBy: "host-b"), host: "host-a", judgedUnder: "11",
                                                              evidence: nil, now: t0.addingTimeInterval(1)))
            #expect(applied.old == .unknown)
            #expect(applied.row.state == .trusted && applied.row.version == 1 && applied.row.policyDigest == "11")
            #expect(applied.row.tpmClock == 1 && applied.row.measuredBy == "host-b" && applied.row.lastQuoteAt == facts(1).verifiedAt)
            #expect(try await s.row("host-a") == applied.row)
            let events = try await s.events(since: 0, host: nil, limit: 100)
            #expect(events.map(\.kind) == ["host-added", "host-added", "state"])
            #expect(events.last?.seq == applied.eventSeq)
            #expect(events.last?.oldState == "unknown" && events.last?.newState == "trusted" && events.last?.host == "host-a")

            // The rule, not the verdict, decides: silence does not clear a host proven bad (no event, the version moves).
            let bad = try #require(try await s.transition(.untrusted(facts(2), measuredBy: "host-b", code: "quote.pcr-mismatch", detail: "PCR 0"),
                                                          host: "host-a", judgedUnder: "11", evidence: nil, now: t0.addingTimeInterval(2)))
            #expect(bad.row.state == .untrusted && bad.row.failureCode == "quote.pcr-mismatch")
            let silent = try #require(try await s.transition(.unreachable(detail: "no answer"), host: "host-a", judgedUnder: nil, evidence: nil,
                                                             now: t0.addingTimeInterval(3)))
            #expect(silent.old == .untrusted && silent.row.state == .untrusted && silent.eventSeq == nil && silent.row.version == 3)
            #expect(silent.row.verdictState == .unreachable)

            // A host that is not in the table: nil, and nothing is written.
            let count = try await s.events(since: 0, host: nil, limit: 100).count
            #expect(try await s.transition(.trusted(facts(4), measuredBy: "host-b"), host: "nobody", judgedUnder: nil, evidence: nil, now: t0) == nil)
            #expect(try await s.events(since: 0, host: nil, limit: 100).count == count)
            #expect(try await s.row("nobody") == nil)

            // Events since a number, one host's events, an event on its own.
            try await s.audit(host: "host-b", kind: "evacuation-step", code: nil, detail: "planned", now: t0.addingTimeInterval(5))
            let since = try await s.events(since: applied.eventSeq ?? 0, host: nil, limit: 100)
            #expect(since.map(\.kind) == ["state", "evacuation-step"])
            #expect(try await s.events(since: 0, host: "host-b", limit: 100).map(\.kind) == ["host-added", "evacuation-step"])
            #expect(try await s.events(since: 0, host: nil, limit: 2).count == 2)

            // Seeding again updates the address and adds no event; the row's state stays.
            try await s.seed(hosts: [("host-a", "10.0.0.1", 16)], policyName: "test", policyDigest: "22", now: t0)
            let a = try #require(try await s.row("host-a"))
            #expect(a.address == "10.0.0.1" && a.capacity == 16 && a.state == .untrusted && a.policyDigest == "11")
            #expect(try await s.events(since: 0, host: nil, limit: 100).count == count + 1)
        }
    }

    /// The attacker's race, on both backends: evidence verified against the enrolment as read, the operator revokes
    /// the host, then the verdict is written. The revoked host stays untrusted; nothing of the verdict is written.
    @Test(arguments: Backend.allCases)
    func aVerdictWrittenAfterTheRevocationDoesNotTrustTheHost(_ backend: Backend) async throws {
        try await backend.withStores { stores in
            let s = stores[0]
            try await seedTwoHosts(s)
            try await s.recordEnrolment(host: "host-a", akPublic: [1, 2, 3], akName: "000b11", ekCertificate: "issuer x", ekName: "000b22",
                                        ekCertificateSHA256: "33", now: t0)
            _ = try await s.transition(.trusted(facts(1), measuredBy: "host-b"), host: "host-a", judgedUnder: nil, evidence: nil, now: t0)
            try await s.revoke(host: "host-a", now: t0.addingTimeInterval(1))
            let revoked = try #require(try await s.row("host-a"))
            let events = try await s.events(since: 0, host: "host-a", limit: 100)
            let late = try #require(try await s.transition(.trusted(facts(2), measuredBy: "host-b"), host: "host-a", judgedUnder: nil,
                                                           evidence: nil, now: t0.addingTimeInterval(2)))
            #expect(late.row.state == .untrusted && late.eventSeq == nil)
            #expect(try await s.row("host-a") == revoked)
            #expect(try await s.events(since: 0, host: "host-a", limit: 100) == events)
        }
    }

    /// The same race when the host was revoked, readmitted and enrolled another AK in between: the verdict on the old
    /// AK's quote leaves the new enrolment's row as it is; a verdict on the new AK's quote applies.
    @Test(arguments: Backend.allCases)
    func aVerdictOnAnotherAKsQuoteLeavesTheRow(_ backend: Backend) async throws {
        try await backend.withStores { stores in
            let s = stores[0]
            try await seedTwoHosts(s)
            func verified(_ i: Int, by ak: String) -> QuoteFacts {
                var f = facts(i)
                f.akName = ak
                return f
            }
            try await s.recordEnrolment(host: "host-a", akPublic: [1], akName: "000b11", ekCertificate: "issuer x", ekName: "000b22",
                                        ekCertificateSHA256: "33", now: t0)
            _ = try await s.transition(.trusted(verified(1, by: "000b11"), measuredBy: "host-b"), host: "host-a", judgedUnder: nil, evidence: nil, now: t0)
            try await s.revoke(host: "host-a", now: t0.addingTimeInterval(1))
            _ = try await s.readmit(host: "host-a", allowing: .sameEK, now: t0.addingTimeInterval(2))
            try await s.recordEnrolment(host: "host-a", akPublic: [2], akName: "000b99", ekCertificate: "issuer x", ekName: "000b22",
                                        ekCertificateSHA256: "33", now: t0.addingTimeInterval(3))
            let enrolled = try #require(try await s.row("host-a"))
            #expect(enrolled.state == .unknown && enrolled.akName == "000b99")
            let stale = try #require(try await s.transition(.trusted(verified(4, by: "000b11"), measuredBy: "host-b"), host: "host-a",
                                                            judgedUnder: nil, evidence: nil, now: t0.addingTimeInterval(4)))
            #expect(stale.row.state == .unknown && stale.eventSeq == nil)
            #expect(try await s.row("host-a") == enrolled)
            let fresh = try #require(try await s.transition(.trusted(verified(5, by: "000b99"), measuredBy: "host-b"), host: "host-a",
                                                            judgedUnder: nil, evidence: nil, now: t0.addingTimeInterval(5)))
            #expect(fresh.row.state == .trusted && fresh.eventSeq != nil)
        }
    }

    /// Two stores (two connection pools) apply transitions to one host at once: every transition reads the row the
    /// previous one wrote (the version counts each of them, and each state event starts where the one before ended).
    @Test(arguments: Backend.allCases)
    func racingTransitionsLoseNoUpdate(_ backend: Backend) async throws {
        let perWriter = 25
        try await backend.withStores(2) { stores in
            try await seedTwoHosts(stores[0])
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (w, store) in stores.enumerated() {
                    group.addTask {
                        for i in 0..<perWriter {
                            let q = facts(w * 1000 + i)
                            let verdict: HostVerdict = w == 0 ? .trusted(q, measuredBy: "host-b")
                                : .rebooted(q, measuredBy: "host-b", code: "tpm.reset", detail: "reset \(i)")
                            _ = try await store.transition(verdict, host: "host-a", judgedUnder: nil, evidence: nil, now: q.verifiedAt)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let row = try #require(try await stores[1].row("host-a"))
            #expect(row.version == 2 * perWriter)
            let changes = try await stores[0].events(since: 0, host: "host-a", limit: 1000).filter { $0.kind == "state" }
            #expect(!changes.isEmpty)
            #expect(changes.first?.oldState == "unknown")
            for (before, after) in zip(changes, changes.dropFirst()) { #expect(after.oldState == before.newState) }
            #expect(changes.last?.newState == row.state.rawValue)
            #expect(Set(changes.map(\.seq)).count == changes.count)
        }
    }

    /// Several regions in one database: each store sees its own rows and events only, even for a host id both have.
    @Test func regionsSharingADatabaseDoNotSeeEachOther() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["east", "west"]) { stores in
                let (east, west) = (stores[0], stores[1])
                try await east.seed(hosts: [("host-a", "10.1.0.1", 8), ("east-only", "10.1.0.2", 8)], policyName: "east", policyDigest: "e", now: t0)
                try await west.seed(hosts: [("host-a", "10.2.0.1", 4)], policyName: "west", policyDigest: "w", now: t0)
                _ = try await east.transition(.trusted(facts(1), measuredBy: "east-only"), host: "host-a", judgedUnder: nil, evidence: nil, now: t0)
                try await east.audit(host: nil, kind: "east-note", code: nil, detail: nil, now: t0)

                #expect(try await east.rows().map(\.host) == ["east-only", "host-a"])
                #expect(try await west.rows().map(\.host) == ["host-a"])
                #expect(try await east.row("host-a")?.state == .trusted)
                let westA = try #require(try await west.row("host-a"))
                #expect(westA.state == .unknown && westA.address == "10.2.0.1" && westA.version == 0)
                #expect(try await west.row("east-only") == nil)
                #expect(try await west.transition(.unreachable(detail: "x"), host: "east-only", judgedUnder: nil, evidence: nil, now: t0) == nil)
                #expect(try await west.events(since: 0, host: nil, limit: 100).map(\.kind) == ["host-added"])
                #expect(try await east.events(since: 0, host: nil, limit: 100).map(\.kind) == ["host-added", "host-added", "state", "east-note"])
                #expect(try await east.row("east-only")?.version == 0)
            }
        }
    }

    /// The schema is migrated once however many stores open the database; `schema_migrations` records it.
    @Test func reopeningMigratesNothingTwice() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r1", "r2", "r1"]) { stores in
                try await stores[0].seed(hosts: [("h", "10.0.0.1", nil)], policyName: "p", policyDigest: "d", now: t0)
                #expect(try await stores[2].rows().map(\.host) == ["h"])
                #expect(try await stores[1].rows().isEmpty)
            }
        }
    }

    /// A database the server does not have is `store.unreachable` with a hint.
    @Test func aMissingDatabaseIsCoded() async throws {
        try await PostgresCluster.with { cluster in
            let url = cluster.url.replacingOccurrences(of: "/postgres?", with: "/no-such-database?")
            let refused = await #expect(throws: RegionError.self) { _ = try await PostgresRegionStore.open(url: url, region: "r") }
            #expect(refused?.code == .storeUnreachable && refused?.hint != nil)
            #expect(refused?.reason.contains("no-such-database") == true)
        }
    }

    /// The throw-away cluster leaves nothing behind: its directory is removed and nothing answers on its port.
    @Test func theClusterIsGoneAfterwards() async throws {
        let (directory, url) = try await PostgresCluster.with { cluster in
            #expect(FileManager.default.fileExists(atPath: cluster.dataDirectory + "/PG_VERSION"))
            return (cluster.directory, cluster.url)
        }
        #expect(!FileManager.default.fileExists(atPath: directory))
        let gone = await #expect(throws: RegionError.self) { _ = try await PostgresRegionStore.open(url: url, region: "r") }
        #expect(gone?.code == .storeUnreachable)
    }

    /// The server stopped at once (as if it crashed) and started again on its port: the store's pool reconnects and
    /// what was committed before is there.
    @Test func storeReconnectsAfterTheServerRestarts() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r"]) { stores in
                let s = stores[0]
                try await seedTwoHosts(s)
                _ = try await s.transition(.trusted(facts(1), measuredBy: "host-b"), host: "host-a", judgedUnder: nil, evidence: nil, now: t0)
                try await cluster.restartServer()
                try await waitUntilAsync("the store to answer after the restart", seconds: 120) {
                    do { return try await s.row("host-a")?.state == .trusted } catch let e as RegionError where e.code == .storeUnreachable { return false }
                }
                let next = try await s.transition(.untrusted(facts(2), measuredBy: "host-b", code: "quote.pcr-mismatch", detail: "PCR 0"),
                                                  host: "host-a", judgedUnder: nil, evidence: nil, now: t0)
                #expect(next?.old == .trusted && next?.row.version == 2)
            }
        }
    }
}
