import ArgumentParser
import SmigAttestCLI
import Testing

/// `bench failover`'s arguments: the defaults, and every bad value refused before anything starts.
@Suite("bench failover arguments")
struct BenchFailoverCommandTests {
    @Test func defaultsAndOptionsParse() throws {
        let plain = try BenchFailover.parse([])
        #expect(plain.runs == 10 && plain.rctcbs == 2 && plain.lease == 3 && plain.storeURL == nil && !plain.json)
        let given = try BenchFailover.parse(["--runs", "1", "--rctcbs", "3", "--lease", "2", "--store-url", "postgresql://u@db:5432/smig", "--json"])
        #expect(given.runs == 1 && given.rctcbs == 3 && given.lease == 2 && given.storeURL == "postgresql://u@db:5432/smig" && given.json)
    }

    @Test(arguments: [
        (["--runs", "0"], "--runs must be 1-1000"),
        (["--rctcbs", "4"], "--rctcbs must be 2 or 3"),
        (["--lease", "0.1"], "--lease must be 0.3 to 600 seconds (as rctcb serve --lease)"),
    ])
    func badValuesAreRefused(_ args: [String], _ message: String) {
        let error = #expect(throws: (any Error).self) { try BenchFailover.parse(args) }
        #expect(error.map(BenchFailover.message(for:)) == message)
    }

    @Test func aStoreURLThatNamesNoDatabaseIsRefused() {
        let error = #expect(throws: (any Error).self) { try BenchFailover.parse(["--store-url", "postgresql://u@db:5432/"]) }
        #expect(error.map(BenchFailover.message(for:))?.hasPrefix("--store-url: ") == true, "\(String(describing: error))")
    }
}
