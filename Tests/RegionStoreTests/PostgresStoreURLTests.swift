import Foundation
import RegionStorePostgres
import RegionTCB
import Swtpm
import Testing

/// Store URLs are checked before anything connects; a server that is not there is `store.unreachable`. Neither
/// needs a running PostgreSQL.
@Suite("PostgreSQL store URL", .timeLimit(.minutes(30)))
struct PostgresStoreURLTests {
    @Test(arguments: [
        "", "not a url", "mysql://u@127.0.0.1/db", "postgresql://127.0.0.1/db", "postgresql://u@/db", "postgresql://u@127.0.0.1",
        "postgresql://u@127.0.0.1/", "postgresql://u@127.0.0.1:0/db", "postgresql://u@127.0.0.1:70000/db", "postgresql://u@127.0.0.1/a/b",
        "postgresql://u@127.0.0.1/db?sslmode=verify-full", "postgresql://u@127.0.0.1/db?application_name=x",
    ])
    func badURLsAreRefusedBeforeConnecting(_ text: String) async throws {
        let error = await #expect(throws: RegionError.self) { _ = try await PostgresRegionStore.open(url: text, region: "r") }
        #expect(error?.code == .storeBadURL)
        #expect(error?.hint?.contains("postgresql://USER") == true)
    }

    @Test func goodURLsParse() throws {
        let u = try PostgresStoreURL("postgresql://rctcb:s3cret@db.example:6543/region?sslmode=require")
        #expect(u.host == "db.example" && u.port == 6543 && u.user == "rctcb" && u.password == "s3cret" && u.database == "region")
        #expect(u.sslMode == .require)
        #expect(!u.description.contains("s3cret"))
        let d = try PostgresStoreURL("postgres://rctcb@[::1]/region")
        #expect(d.host == "::1" && d.port == 5432 && d.password == nil && d.sslMode == .prefer)
    }

    @Test func aPasswordIsNotRepeatedInTheError() async throws {
        let error = await #expect(throws: RegionError.self) { _ = try await PostgresRegionStore.open(url: "postgresql://u:s3cret@127.0.0.1/", region: "r") }
        #expect(error?.code == .storeBadURL && error?.description.contains("s3cret") == false)
    }

    @Test func nothingListeningIsUnreachable() async throws {
        let port = try SoftwareTPM.freePortPair()
        let error = await #expect(throws: RegionError.self) {
            _ = try await PostgresRegionStore.open(url: "postgresql://u@127.0.0.1:\(port)/db?sslmode=disable", region: "r")
        }
        #expect(error?.code == .storeUnreachable)
        #expect(error?.hint?.contains("127.0.0.1:\(port)") == true)
    }
}
