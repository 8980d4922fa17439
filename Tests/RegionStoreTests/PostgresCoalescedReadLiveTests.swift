import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The audit trail's last number on PostgreSQL, one read for all who ask at once: every answer is at least the
/// number of an event its caller saw committed before it asked — its own, or another RC-TCB's — however many ask
/// together, and a burst of callers is answered by fewer reads than callers.
@Suite("PostgreSQL store: one read of the audit trail's last number for many", .timeLimit(.minutes(10)))
struct PostgresCoalescedReadLiveTests {
    @Test func everyAnswerIsAsFreshAsTheCallersOwnRead() async throws {
        let hosts = (0..<16).map { String(format: "host-%02d", $0) }
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                let (reader, writer) = (stores[0], stores[1])
                try await writer.seed(hosts: hosts.map { ($0, "127.0.0.1", 1) }, policyName: "test", policyDigest: "00", now: t0)
                let before = reader.lastEventSeqServed
                for round in 0..<10 {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (i, h) in hosts.enumerated() {
                            // Each task makes a change of state on one pool (every round changes it), then asks the
                            // other pool: the answer must include the change.
                            let verdict: HostVerdict = round % 2 == 0 ? .trusted(facts(round), measuredBy: "host-b") : .unreachable(detail: "silent")
                            group.addTask {
                                let applied = try #require(try await writer.transition(verdict, host: h, judgedUnder: nil, judged: nil, now: t0))
                                let seq = try #require(applied.eventSeq)
                                let seen = try await reader.lastEventSeq()
                                #expect(seen >= seq, "round \(round), \(h)")
                            }
                            if i % 4 == 0 { group.addTask { _ = try await reader.lastEventSeq() } }
                        }
                        try await group.waitForAll()
                    }
                }
                // The same with reads under way all the time (a read that began before a change committed must not
                // answer whoever asks after it): a reader that keeps asking while the changes are made.
                let keepReading = Task {
                    var reads = 0
                    while !Task.isCancelled {
                        _ = try await reader.lastEventSeq()
                        reads += 1
                    }
                    return reads
                }
                for round in 10..<30 {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for h in hosts {
                            let verdict: HostVerdict = round % 2 == 0 ? .trusted(facts(round), measuredBy: "host-b") : .unreachable(detail: "silent")
                            group.addTask {
                                let seq = try #require(try await writer.transition(verdict, host: h, judgedUnder: nil, judged: nil, now: t0)?.eventSeq)
                                #expect(try await reader.lastEventSeq() >= seq, "round \(round), \(h)")
                            }
                        }
                        try await group.waitForAll()
                    }
                }
                keepReading.cancel()
                #expect(try await keepReading.value > 0)
                #expect(try await reader.lastEventSeq() == writer.lastEventSeq())
                let served = reader.lastEventSeqServed
                #expect(served.asked - before.asked > 10 * (hosts.count + hosts.count / 4) + 20 * hosts.count)
                #expect(served.read - before.read < served.asked - before.asked)
            }
        }
    }
}
