import Dispatch
import Foundation
import GRDB
import RegionTCB
import Synchronization
import Testing

/// The IVT's group commit (``IVTGroupCommit``): the RC-TCB's verdicts, through ``RegionStore``, are written in groups,
/// each answered only once its group's transaction has committed; a group that does not commit fails every answer
/// in it and writes nothing; a verdict that fails is rolled back alone. Each test holds a group's transaction open
/// (the before-commit hook waits on a semaphore, on the group commit's own thread) and reads the IVT through a
/// second connection, which sees committed rows only.
@Suite("IVT group commit")
struct IVTGroupCommitTests {
    /// A gate the hook waits at: the test learns that a group's transaction is open, then lets it go on.
    final class Gate: Sendable {
        let entered = DispatchSemaphore(value: 0)
        let open = DispatchSemaphore(value: 0)
        let sizes = Mutex<[Int]>([])

        /// The before-commit hook: the first group waits at the gate; later groups commit, or with `refusingLater`
        /// fail to.
        func hook(refusingLater: Bool) -> @Sendable (Int) throws -> Void {
            { n in
                let call = self.sizes.withLock { $0.append(n); return $0.count }
                if call == 1 {
                    self.entered.signal()
                    self.open.wait()
                } else if refusingLater {
                    throw CommitRefused()
                }
            }
        }

        /// Waits, off Swift's cooperative threads, until the hook is entered.
        func waitEntered() async {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    self.entered.wait()
                    c.resume()
                }
            }
        }
    }

    struct CommitRefused: Error {}

    static func trusted(_ host: String, _ i: Int) -> (HostVerdict, JudgedEvidence) {
        (.trusted(EvidenceKeptTests.facts(i), measuredBy: "host-z"), JudgedEvidence(EvidenceKeptTests.bundle(host, i)))
    }

    static func submit(_ store: any RegionStore, _ host: String, _ i: Int) -> Task<IVTStore.Applied?, any Error> {
        let (verdict, judged) = trusted(host, i)
        return Task { try await store.transition(verdict, host: host, judgedUnder: "11", judged: judged, now: EvidenceKeptTests.facts(i).verifiedAt) }
    }

    /// Polls (yielding, with no time bound of its own) until `count` verdicts wait for the next group.
    static func waitUntilWaiting(_ store: IVTStore, _ count: Int) async {
        while store.groupCommit.waiting < count { try? await Task.sleep(for: .milliseconds(5)) }
    }

    @Test func aVerdictIsAnsweredOnlyAfterItsTransactionCommitted() async throws {
        let (s, path) = try IVTStoreTests.store(hosts: ["host-a", "host-z"])
        let reader = try IVTStore(path: path)
        let gate = Gate()
        s.groupCommit.setBeforeCommit(gate.hook(refusingLater: false))
        let answered = Atomic<Bool>(false)
        let task = Task {
            let a = try await Self.submit(s, "host-a", 1).value
            answered.store(true, ordering: .sequentiallyConsistent)
            return a
        }
        await gate.waitEntered()
        // The verdict is applied in the open transaction: not committed, not answered.
        #expect(answered.load(ordering: .sequentiallyConsistent) == false)
        #expect(try reader.row("host-a")?.state == .unknown)
        #expect(try reader.evidence(host: "host-a").isEmpty)
        gate.open.signal()
        let applied = try #require(try await task.value)
        // Answered: the row it reports is the one another connection reads now, with its audit event and evidence.
        #expect(applied.row.state == .trusted && applied.old == .unknown)
        #expect(try reader.row("host-a") == applied.row)
        #expect(try reader.events(host: "host-a").last?.seq == applied.eventSeq)
        #expect(try reader.evidence(host: "host-a").count == 1)
        #expect(gate.sizes.withLock { $0 } == [1])
    }

    @Test func aGroupThatDoesNotCommitFailsEveryAnswerAndWritesNothing() async throws {
        let hosts = ["host-a", "host-b", "host-c", "host-d", "host-z"]
        let (s, path) = try IVTStoreTests.store(hosts: hosts)
        let reader = try IVTStore(path: path)
        let gate = Gate()
        s.groupCommit.setBeforeCommit(gate.hook(refusingLater: true))
        // The first group (host-a) holds the writer; three more verdicts wait and become the next group.
        let first = Self.submit(s, "host-a", 1)
        await gate.waitEntered()
        let rest = ["host-b", "host-c", "host-d"].enumerated().map { Self.submit(s, $1, $0 + 2) }
        await Self.waitUntilWaiting(s, 3)
        let rowsBefore = try reader.rows().filter { $0.host != "host-a" }
        let eventsBefore = try reader.events()
        gate.open.signal()
        #expect(try await first.value?.row.state == .trusted)
        for task in rest {
            let error = await #expect(throws: RegionError.self) { try await task.value }
            #expect(error?.code == .storeFailed)
        }
        #expect(gate.sizes.withLock { $0 } == [1, 3])
        // Nothing of the failed group: the rows, the audit trail (host-a's event came before) and no evidence.
        #expect(try reader.rows().filter { $0.host != "host-a" } == rowsBefore)
        #expect(try reader.events().filter { $0.host != "host-a" } == eventsBefore.filter { $0.host != "host-a" })
        for h in ["host-b", "host-c", "host-d"] { #expect(try reader.evidence(host: h).isEmpty) }
        // The store goes on: the next verdict commits on its own.
        s.groupCommit.setBeforeCommit(nil)
        #expect(try await Self.submit(s, "host-b", 9).value?.row.state == .trusted)
        #expect(try reader.row("host-b")?.state == .trusted)
    }

    @Test func aVerdictThatFailsIsRolledBackAloneInItsGroup() async throws {
        let (s, path) = try IVTStoreTests.store(hosts: ["host-a", "host-b", "host-c", "host-z"])
        // host-b's row does not decode: its verdict fails, its neighbours' in the same transaction commit.
        let queue = try DatabaseQueue(path: path)
        try await queue.write { db in try db.execute(sql: "UPDATE host SET state = 'bogus' WHERE id = 'host-b'") }
        try queue.close()
        let reader = try IVTStore(path: path)
        let gate = Gate()
        s.groupCommit.setBeforeCommit(gate.hook(refusingLater: false))
        let first = Self.submit(s, "host-z", 1)
        await gate.waitEntered()
        let group = ["host-a", "host-b", "host-c"].enumerated().map { Self.submit(s, $1, $0 + 2) }
        await Self.waitUntilWaiting(s, 3)
        gate.open.signal()
        _ = try await first.value
        #expect(try await group[0].value?.row.state == .trusted)
        let error = await #expect(throws: RegionError.self) { try await group[1].value }
        #expect(error?.code == .storeCorrupt)
        #expect(try await group[2].value?.row.state == .trusted)
        #expect(gate.sizes.withLock { $0 } == [1, 3])
        #expect(try reader.evidence(host: "host-b").isEmpty)
        #expect(try reader.events(host: "host-b").map(\.kind) == ["host-added"])
        #expect(try reader.evidence(host: "host-a").count == 1 && reader.evidence(host: "host-c").count == 1)
    }
}
