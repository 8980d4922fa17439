import Foundation
import GRDB
import RegionProtocol
@testable import RegionTCB
import Testing
import Crypto
import X509

@Suite("IVT store")
struct IVTStoreTests {
    static func store(hosts: [String] = ["host-a", "host-b"]) throws -> (IVTStore, String) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ivt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent("ivt.sqlite").path
        let s = try IVTStore(path: path)
        try s.seed(hosts: hosts.map { ($0, "127.0.0.1", 8) }, policyName: "test", policyDigest: "00")
        return (s, path)
    }

    /// Opened for an operator's command, the writer flushes the WAL at every commit (GRDB's pool would only at
    /// checkpoints); opened without the flag, as GRDB has it.
    @Test func theWriterFlushesTheWALAtEveryCommitWhenAsked() throws {
        let (store, path) = try Self.store()
        #expect(try !store.walFlushedAtEveryCommit())
        #expect(try IVTStore(path: path, flushEveryCommit: true).walFlushedAtEveryCommit())
    }

    /// In the RC-TCB (no flag), every write outside the group commit of verdicts (an enrolment, a certificate, a
    /// revocation, an evacuation's record and steps) commits with the WAL flushed, and the writer goes back to
    /// flushing at checkpoints after it, for the verdicts; an aggregated refusal's count is not flushed.
    @Test func writesOutsideTheGroupCommitAreFlushedAtTheirCommit() throws {
        let (store, _) = try Self.store()
        let synchronous = { (db: Database) throws -> Int in try Int.fetchOne(db, sql: "PRAGMA synchronous") ?? -1 }
        #expect(try store.write(synchronous) == 2)
        #expect(try store.write(durable: false, synchronous) == 1)
        #expect(try !store.walFlushedAtEveryCommit())
        // What the durable write committed is there, and a failed one committed nothing and left the writer as it was.
        try store.revoke(host: "host-a")
        #expect(try store.rows().first { $0.host == "host-a" }?.revoked == true)
        #expect(throws: RegionError.self) {
            try store.write { db in
                try db.execute(sql: "UPDATE host SET address = 'elsewhere' WHERE id = 'host-b'")
                throw RegionError(.storeFailed, "test")
            }
        }
        #expect(try store.rows().first { $0.host == "host-b" }?.address == "127.0.0.1")
        #expect(try !store.walFlushedAtEveryCommit())
    }

    @Test func stateChangesAreAuditedInTheSameTransaction() throws {
        let (s, _) = try Self.store()
        #expect(try s.rows().map(\.state) == [.unknown, .unknown])
        let old = try s.set(.init(state: .trusted, measuredBy: "host-b", quoteAt: Date(), tpmClock: 5, resetCount: 1, restartCount: 0, pcrDigest: "ab"), to: "host-a")
        #expect(old == .unknown)
        let a = try #require(try s.row("host-a"))
        #expect(a.state == .trusted && a.measuredBy == "host-b" && a.tpmClock == 5 && a.version == 1)
        let events = try s.events()
        #expect(events.map(\.kind) == ["host-added", "host-added", "state"])
        #expect(events.last?.oldState == "unknown" && events.last?.newState == "trusted")
        // Same state again: the row's version moves, no new state event.
        try s.set(.init(state: .trusted), to: "host-a")
        #expect(try s.events().count == 3)
        #expect(try s.set(.init(state: .trusted), to: "nobody") == nil)
    }

    /// Refusals aggregate per host, kind, code and window; those of hosts the region does not know (nil) share one
    /// event. `events(host:)` is one host's trail.
    @Test func refusalsAggregateAndEventsFilterByHost() throws {
        let (s, _) = try Self.store()
        let start = Date(timeIntervalSince1970: 1_000_000)
        for i in 0..<50 {
            try s.auditAggregated(host: nil, kind: "enrol-refused", code: "enrol.unknown-host", detail: "host stranger-\(i) is not in this region's policy",
                                  window: 60, now: start.addingTimeInterval(Double(i) / 10))
            try s.auditAggregated(host: "host-a", kind: "enrol-refused", code: "enrol.ak-changed", detail: "another AK", window: 60,
                                  now: start.addingTimeInterval(Double(i) / 10))
        }
        let refusals = try s.events().filter { $0.kind == "enrol-refused" }
        #expect(refusals.map(\.host) == [nil, "host-a"])
        #expect(refusals.map(\.count) == [50, 50])
        #expect(refusals.first?.detail == "host stranger-49 is not in this region's policy")
        // A new window is a new event.
        try s.auditAggregated(host: nil, kind: "enrol-refused", code: "enrol.unknown-host", detail: "later", window: 60, now: start.addingTimeInterval(120))
        #expect(try s.events().filter { $0.kind == "enrol-refused" && $0.host == nil }.map(\.count) == [50, 1])

        #expect(try s.events(host: "host-a").map(\.kind) == ["host-added", "enrol-refused"])
        #expect(try s.events(host: "host-b").map(\.kind) == ["host-added"])
        #expect(try s.events(host: "nobody").isEmpty)
        let first = try #require(try s.events(host: "host-a").first)
        #expect(try s.events(since: first.seq, host: "host-a").map(\.kind) == ["enrol-refused"])
    }

    @Test func revokeAndReadmit() throws {
        let (s, _) = try Self.store()
        try s.recordEnrolment(host: "host-a", akPublic: [1, 2, 3], akName: "000b11", ekCertificate: "issuer x", ekName: "000b22", ekCertificateSHA256: "33")
        #expect(try s.enrolment("host-a")?.akName == "000b11")
        try s.revoke(host: "host-a")
        #expect(try s.enrolment("host-a")?.revoked == true)
        #expect(try s.row("host-a")?.state == .untrusted)
        #expect(try s.readmit(host: "host-a") == .name([0x00, 0x0b, 0x22]))
        #expect(try s.enrolment("host-a") == nil)
        // The EK binding outlives the re-admission; what it allows is recorded.
        let standing = try #require(try s.enrolmentStanding("host-a"))
        #expect(!standing.revoked && standing.enrolledAKName == nil && standing.ekName == "000b22" && standing.ekCertificateSHA256 == "33")
        #expect(standing.readmission == .name([0x00, 0x0b, 0x22]))
        let error = #expect(throws: RegionError.self) { try s.revoke(host: "nobody") }
        #expect(error?.code == .unknownHost)
        #expect(try s.events().map(\.kind).suffix(3) == ["enrolled", "revoked", "readmitted"])
    }

    /// The attacker's race through the store: evidence verified before the operator's revocation was written does not
    /// make the revoked host trusted when its verdict is written after it (the group-committed path the RC-TCB takes).
    @Test func aVerdictWrittenAfterTheRevocationDoesNotTrustTheHost() async throws {
        let (s, _) = try Self.store()
        try s.recordEnrolment(host: "host-a", akPublic: [1, 2, 3], akName: "000b11", ekCertificate: "issuer x", ekName: "000b22", ekCertificateSHA256: "33")
        let facts = QuoteFacts(verifiedAt: Date(), tpmClock: 5, resetCount: 1, restartCount: 0, pcrDigest: "ab")
        _ = try await s.transition(.trusted(facts, measuredBy: "host-b"), host: "host-a", judgedUnder: nil, judged: nil, now: Date())
        #expect(try s.row("host-a")?.state == .trusted)
        try s.revoke(host: "host-a")
        let events = try s.events(host: "host-a").count
        let later = QuoteFacts(verifiedAt: Date(), tpmClock: 6, resetCount: 1, restartCount: 0, pcrDigest: "ab")
        let applied = try await s.transition(.trusted(later, measuredBy: "host-b"), host: "host-a", judgedUnder: nil, judged: nil, now: Date())
        #expect(applied?.row.state == .untrusted && applied?.eventSeq == nil)
        let row = try #require(try s.row("host-a"))
        #expect(row.state == .untrusted && row.revoked && row.failureCode == RegionError.Code.revoked.rawValue && row.tpmClock == 5)
        #expect(try s.events(host: "host-a").count == events)
    }

    /// An evacuation step's typed fields are stored with its event; an IVT written before the event table had those
    /// columns is migrated on open, and its old events read back unchanged, without fields.
    @Test func evacuationFieldsAndEventsWrittenBeforeThem() throws {
        let (s, path) = try Self.store()
        try s.audit(host: "host-b", kind: Evacuator.Step.resumed.rawValue, code: nil, detail: "vm-1 runs on host-b",
                    evacuation: EvacuationFields(vm: "vm-1", source: "host-a", target: "host-b", outcome: .moved))
        let resumed = try #require(try s.events().last)
        #expect(resumed.evacuationStep == .resumed)
        #expect(resumed.evacuation == EvacuationFields(vm: "vm-1", source: "host-a", target: "host-b", outcome: .moved))
        #expect(resumed.evacuation?.evacuationOutcome == .moved)
        #expect(try s.events().dropLast().allSatisfy { $0.evacuation == nil && $0.evacuationStep == nil })

        // The same file as an RC-TCB before the fields wrote it: no such columns, an evacuation event in the old form.
        let db = try DatabaseQueue(path: path)
        try db.write { db in
            try db.execute(sql: """
                DELETE FROM event WHERE vm IS NOT NULL;
                ALTER TABLE event DROP COLUMN vm; ALTER TABLE event DROP COLUMN source;
                ALTER TABLE event DROP COLUMN target; ALTER TABLE event DROP COLUMN outcome;
                DELETE FROM grdb_migrations WHERE identifier = 'v8: evacuation fields';
                INSERT INTO event (at, host, kind, detail) VALUES (1000, 'host-b', 'evacuation.resumed', 'vm-0 runs on host-b (9.0 ms)');
                """)
        }
        try db.close()
        let reopened = try IVTStore(path: path)
        let old = try #require(try reopened.events().last)
        #expect(old.evacuationStep == .resumed && old.detail == "vm-0 runs on host-b (9.0 ms)" && old.evacuation == nil)
        try reopened.audit(host: "host-a", kind: Evacuator.Step.noTarget.rawValue, code: "evacuation.no-target", detail: "vm-2: no trusted target",
                           evacuation: EvacuationFields(vm: "vm-2", source: "host-a", outcome: .keptRunning))
        #expect(try reopened.events().last?.evacuation?.evacuationOutcome == .keptRunning)
        // An outcome this version does not know reads as text, not as an error.
        try DatabaseQueue(path: path).write { try $0.execute(sql: "UPDATE event SET outcome = 'teleported' WHERE vm = 'vm-2'") }
        let unknown = try #require(try reopened.events().last?.evacuation)
        #expect(unknown.outcome == "teleported" && unknown.evacuationOutcome == nil)
    }

    /// A tampered row is a coded error naming table, row and column, never a trap or a plausible default.
    @Test func tamperedRowsAreCodedErrors() throws {
        let (s, path) = try Self.store()
        let db = try DatabaseQueue(path: path)
        try db.write { try $0.execute(sql: "UPDATE host SET state = 'fine' WHERE id = 'host-b'") }
        let state = #expect(throws: RegionError.self, "tampered state") { try s.rows() }
        #expect(state?.code == .storeCorrupt)
        #expect(state?.reason.contains("host-b") == true && state?.reason.contains("state") == true)
        try db.write { try $0.execute(sql: "UPDATE host SET state = 'unknown', updated_at = 'garbage' WHERE id = 'host-b'") }
        let updatedAt = #expect(throws: RegionError.self, "tampered updated_at") { try s.rows() }
        #expect(updatedAt?.code == .storeCorrupt)
    }
}

@Suite("Region identities")
struct RegionIdentityTests {
    @Test func issuedCertificatesNameRoleHostAndAK() throws {
        let ca = try RegionCA.create(region: "test")
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let cert = try ca.issue(for: key.publicKey, identity: RegionIdentity(role: .agent, name: "host-a", akName: "000bff"))
        let id = try #require(RegionIdentity(certificate: cert))
        #expect(id == RegionIdentity(role: .agent, name: "host-a", akName: "000bff"))
        // An agent certificate without an AK Name is no identity.
        let bare = try ca.issue(for: key.publicKey, identity: RegionIdentity(role: .admin, name: "operator"))
        #expect(RegionIdentity(certificate: bare)?.role == .admin)
    }

    @Test(arguments: ["host-a", "a", "xen.b_1"]) func validHostIds(id: String) { #expect(HostID.isValid(id)) }
    @Test(arguments: ["", "-a", ".a", "a/b", "A", "a b", String(repeating: "a", count: 64)]) func invalidHostIds(id: String) { #expect(!HostID.isValid(id)) }
}
