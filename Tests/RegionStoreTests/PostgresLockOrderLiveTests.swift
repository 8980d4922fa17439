import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// Seeding a policy (a reload, an RC-TCB's start) and a group of verdicts lock the hosts' rows in one order, their
/// ids' as PostgreSQL sorts them: neither can hold a row the other has and wait for one the other holds, a cycle
/// PostgreSQL ends by failing one of the two transactions.
@Suite("PostgreSQL store: seeding and verdicts lock host rows in one order", .timeLimit(.minutes(10)))
struct PostgresLockOrderLiveTests {
    /// The policy lists `host-b` before `host-a`. A verdict group's transaction (played by psql, locking as the
    /// store's group does: `host-a`, then `host-b`) holds `host-a` while the policy is seeded again; the seed waits
    /// for it, and the group then takes `host-b`. Both finish, and the seed's changes are in the table.
    @Test func aSeedOfHostsOutOfIdOrderWaitsForAVerdictGroupWithoutADeadlock() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["region-a"]) { stores in
                let store = stores[0]
                let policyOrder: [(id: String, address: String, capacity: Int?)] = [("host-b", "127.0.0.2", 4), ("host-a", "127.0.0.1", 8)]
                try await store.seed(hosts: policyOrder, policyName: "test", policyDigest: "00", now: t0)

                let group = try PsqlSession(url: cluster.url, name: "verdict-group")
                try group.send("BEGIN; SELECT id FROM host WHERE region = 'region-a' AND id = 'host-a' FOR UPDATE;")
                try await waitFor(cluster.url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'verdict-group' AND state = 'idle in transaction'")

                let reloaded = policyOrder.map { (id: $0.id, address: $0.address, capacity: Optional(($0.capacity ?? 0) + 1)) }
                let seeding = Task { try await store.seed(hosts: reloaded, policyName: "reloaded", policyDigest: "01", now: t0.addingTimeInterval(1)) }
                try await waitFor(cluster.url, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")

                try group.send("SELECT id FROM host WHERE region = 'region-a' AND id = 'host-b' FOR UPDATE; COMMIT;")
                let (status, output) = try await group.finish()
                #expect(status == 0, "the verdict group's transaction failed: \(output)")
                try await seeding.value
                for h in reloaded {
                    let row = try #require(try await store.row(h.id))
                    #expect(row.policyName == "reloaded" && row.capacity == h.capacity, "\(h.id)")
                }
            }
        }
    }

    /// Waits (generously; the outcome decides) until `countQuery` answers a count above zero.
    func waitFor(_ url: String, _ countQuery: String) async throws {
        for _ in 0..<600 {
            if let n = Int(try psqlValue(url, countQuery)), n > 0 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("never true: \(countQuery)")
        throw CancellationError()
    }
}

/// One psql session fed statement by statement on its standard input, so a transaction stays open between them.
final class PsqlSession {
    let process = Process()
    let input = Pipe()
    let output = Pipe()

    init(url: String, name: String) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = [url, "-v", "ON_ERROR_STOP=1", "-q", "-At"]
        process.environment = ["PGAPPNAME": name]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
    }

    func send(_ sql: String) throws {
        try input.fileHandleForWriting.write(contentsOf: Data((sql + "\n").utf8))
    }

    /// Ends the input and waits for psql: its exit status and everything it wrote.
    func finish() async throws -> (Int32, String) {
        try input.fileHandleForWriting.close()
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        let text = String(decoding: try output.fileHandleForReading.readToEnd() ?? Data(), as: UTF8.self)
        return (process.terminationStatus, text)
    }
}

/// The first line psql answers to `sql` (unaligned, tuples only).
func psqlValue(_ url: String, _ sql: String) throws -> String {
    let p = Process()
    let out = Pipe()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
    p.arguments = [url, "-v", "ON_ERROR_STOP=1", "-q", "-At", "-c", sql]
    p.standardOutput = out
    try p.run()
    let text = String(decoding: try out.fileHandleForReading.readToEnd() ?? Data(), as: UTF8.self)
    p.waitUntilExit()
    return text.split(separator: "\n").first.map(String.init) ?? ""
}
