import Foundation
import Logging
import RegionStorePostgres
import RegionProtocol
import RegionTCB
import SmigTestSupport
import Testing
import TPMWire

/// The ring's nonces on PostgreSQL outlive the leader that issued them: the next leader takes a report on one once,
/// refuses it the second time, keeps it open when another pair presents it, and refuses it after it expired; another
/// region in the same database does not know it. Two
/// RC-TCBs' region states on one database, each writing through its own lease as `rctcb serve --store` does.
@Suite("Ring nonces across leaders (PostgreSQL)", .timeLimit(.minutes(10)))
struct SharedNoncesLiveTests {
    /// host-a and host-b seeded, enrolled and trusted, through the leader's fenced store.
    static func twoTrustedHosts(_ fenced: LeaderFencedStore) async throws {
        try await seedTwoHosts(fenced)
        for h in ["host-a", "host-b"] {
            try await fenced.recordEnrolment(host: h, akPublic: [1], akName: "000b\(h)", ekCertificate: "test", ekName: nil,
                                             ekCertificateSHA256: nil, now: t0)
            _ = try await fenced.transition(.trusted(facts(1), measuredBy: "test"), host: h, judgedUnder: nil, evidence: nil, now: t0)
        }
    }

    /// RC-TCB `holder`'s view of region `r`: its fenced store leading under `lease`, and its region state.
    static func rctcb(_ store: PostgresRegionStore, lease: LeaderLease) throws -> (LeaderFencedStore, RegionState) {
        let fenced = LeaderFencedStore(base: store, region: store.region)
        try fenced.lead(lease)
        let region = RegionState(store: fenced, hosts: ["host-a", "host-b"].map { .init(id: $0, address: "127.0.0.1", port: 1, golden: nil) },
                                 order: ["host-a", "host-b"], selection: try PCRSelectionList(parsing: "sha256:0-7,15"), nonceLifetime: 30,
                                 logger: Logger(label: "test"), challenger: { cfg, _ in throw RegionError(.hostUnreachable, "\(cfg.id): no challenges here") })
        return (fenced, region)
    }

    /// The attacker is host-a's agent, enrolled and trusted, asking for its assignment again and again without
    /// reporting, on a region whose nonces live in PostgreSQL. `ring_nonce` keeps only the newest it asked for
    /// (``NonceBook/openPerReporter``), whichever leader recorded them: the first is refused as unknown, the newest
    /// is spent. The nonce an answer carried is of the other kind and stays open; host-b's nonces are untouched.
    @Test func askingWithoutReportingKeepsFewNoncesOpen() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r"]) { stores in
                let lease = try #require(try await stores[0].acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let (fenced, region) = try Self.rctcb(stores[0], lease: lease)
                try await Self.twoTrustedHosts(fenced)
                let writer = try stores[0].leading(lease)
                try await writer.recordNonce("cafe00", reporter: "host-a", target: "host-b", expires: t0.addingTimeInterval(30), now: t0, carried: true)
                try await writer.recordNonce("b0b000", reporter: "host-b", target: "host-a", expires: t0.addingTimeInterval(30), now: t0)
                var asked: [String] = []
                for i in 0..<40 {
                    asked.append(try #require(try await region.assignment(for: "host-a", now: t0.addingTimeInterval(Double(i) / 100)).nonce))
                }
                let open = try psqlValue(cluster.url, "SELECT count(*) FROM ring_nonce WHERE region = 'r' AND reporter = 'host-a'")
                #expect(open == "\(NonceBook.openPerReporter + 1)")
                let late = t0.addingTimeInterval(1)
                #expect(try await stores[0].spendNonce(asked[0], reporter: "host-a", target: "host-b", now: late) == .unknown)
                #expect(try await stores[0].spendNonce(asked[39], reporter: "host-a", target: "host-b", now: late) == .spent)
                #expect(try await stores[0].spendNonce("cafe00", reporter: "host-a", target: "host-b", now: late) == .spent)
                #expect(try await stores[0].spendNonce("b0b000", reporter: "host-b", target: "host-a", now: late) == .spent)
            }
        }
    }

    @Test func aNonceOfTheOldLeaderIsTakenOnceByTheNewOne() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r", "elsewhere"]) { stores in
                let first = try #require(try await stores[0].acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let (fencedA, old) = try Self.rctcb(stores[0], lease: first)
                try await Self.twoTrustedHosts(fencedA)
                let duty = try await old.assignment(for: "host-a", now: t0)
                let (target, nonce) = (try #require(duty.target), try #require(duty.nonce))
                let other = try #require(try await old.assignment(for: "host-b", now: t0).nonce)
                let early = try #require(try await old.assignment(for: "host-a", now: t0.addingTimeInterval(-20)).nonce)

                // The old leader gives the lease up; another RC-TCB leads with the next epoch and the old one issues no more.
                try await stores[0].releaseLease(first)
                let second = try #require(try await stores[1].acquireLease(holder: "rctcb-b", for: .seconds(600)))
                let (_, new) = try Self.rctcb(stores[1], lease: second)
                let fenced = await #expect(throws: RegionError.self) { _ = try await old.assignment(for: "host-a", now: t0) }
                #expect(fenced?.code == .storeFenced)

                // Another pair's nonce is refused and stays open for its own pair.
                let wrongPair = await #expect(throws: RegionError.self) {
                    _ = try await new.spendNonce(other, reporter: "host-a", target: target, now: t0.addingTimeInterval(1))
                }
                #expect(wrongPair?.code == .notAssigned)
                #expect(Hex.encode(try await new.spendNonce(other, reporter: "host-b", target: "host-a", now: t0.addingTimeInterval(1))) == other)

                // Another region sharing the database does not know the nonce (and leaves it open).
                #expect(try await stores[2].spendNonce(nonce, reporter: "host-a", target: target, now: t0.addingTimeInterval(1)) == .unknown)

                // The old leader's nonce: taken once by the new leader, refused the second time.
                #expect(Hex.encode(try await new.spendNonce(nonce, reporter: "host-a", target: target, now: t0.addingTimeInterval(1))) == nonce)
                let again = await #expect(throws: RegionError.self) {
                    _ = try await new.spendNonce(nonce, reporter: "host-a", target: target, now: t0.addingTimeInterval(2))
                }
                #expect(again?.code == .nonceUnknown)

                // Expired (issued 20 s before t0, lifetime 30 s): refused at t0 + 11 s.
                let expired = await #expect(throws: RegionError.self) {
                    _ = try await new.spendNonce(early, reporter: "host-a", target: target, now: t0.addingTimeInterval(11))
                }
                #expect(expired?.code == .nonceUnknown)
                // The new leader's own nonces work as before.
                let fresh = try #require(try await new.assignment(for: "host-a", now: t0.addingTimeInterval(12)).nonce)
                #expect(Hex.encode(try await new.spendNonce(fresh, reporter: "host-a", target: target, now: t0.addingTimeInterval(13))) == fresh)
            }
        }
    }
}
