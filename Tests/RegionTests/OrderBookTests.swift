import Agent
import Foundation
import RegionProtocol
import Testing

/// The agent's order journal: one file per order, read back at start; the same id is answered from the record.
@Suite("The agent's order journal")
struct OrderBookTests {
    static func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-orders-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return dir
    }

    static let resume = MigrationOrder(orderId: "r.m3.web-1.resume", host: "host-2", vm: "web-1", role: .target, step: .resume)

    static func write(_ record: MigrationOrderStatus, in state: String) throws {
        try FileManager.default.createDirectory(atPath: "\(state)/orders", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try RegionJSON.encode(record).write(to: URL(fileURLWithPath: "\(state)/orders/\(record.order.orderId).json"))
    }

    @Test func aRestartedAgentAnswersFromItsJournalAndNeverActsTwice() async throws {
        let state = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        let done = MigrationOrderStatus(order: Self.resume, state: .done, acceptedAt: at, updatedAt: at, vmState: "running")
        try Self.write(done, in: state)
        // No VM manager at all: an order it already took is still answered, from the record.
        let book = try await OrderBook(hostId: "host-2", stateDirectory: state, manager: nil)
        #expect(try await book.take(Self.resume) == done)
        #expect(await book.status(Self.resume.orderId) == done)

        var other = Self.resume
        other.step = .pause
        let conflict = await #expect(throws: MigrationOrderError.self) { try await book.take(other) }
        #expect(conflict?.code == .conflict)
        var elsewhere = Self.resume
        elsewhere.orderId = "r.m3.web-1.resume-again"
        elsewhere.host = "host-3"
        let misdirected = await #expect(throws: MigrationOrderError.self) { try await book.take(elsewhere) }
        #expect(misdirected?.code == .wrongHost)
        elsewhere.host = "host-2"
        let none = await #expect(throws: MigrationOrderError.self) { try await book.take(elsewhere) }
        #expect(none?.code == .noVMManager)
        // Nothing was journaled for the refused orders.
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(state)/orders")
        #expect(files == ["\(Self.resume.orderId).json"])
    }

    @Test func anOrderLeftRunningIsInterruptedNotStartedAgain() async throws {
        let state = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        let migrate = MigrationOrder(orderId: "r.m4.web-1.migrate", host: "host-1", vm: "web-1", role: .source, step: .migrate,
                                     target: .init(host: "host-2", migrationAddress: "qemu+tcp://10.1.2.2/system"))
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        try Self.write(MigrationOrderStatus(order: migrate, state: .running, acceptedAt: at, updatedAt: at), in: state)
        let book = try await OrderBook(hostId: "host-1", stateDirectory: state, manager: nil)
        let answer = try await book.take(migrate)
        #expect(answer.state == .interrupted && answer.error?.code == "order.interrupted", "\(answer)")
        // ... and so it stays on disk, for the next start.
        let again = try await OrderBook(hostId: "host-1", stateDirectory: state, manager: nil)
        #expect(await again.status(migrate.orderId)?.state == .interrupted)
    }

    @Test func aRecordThatIsNotAnOrderStopsTheAgentNamingTheFile() async throws {
        let state = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: state) }
        try FileManager.default.createDirectory(atPath: "\(state)/orders", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data("{\"order\": 1}".utf8).write(to: URL(fileURLWithPath: "\(state)/orders/x.json"))
        let error = await #expect(throws: MigrationOrderError.self) { try await OrderBook(hostId: "host-1", stateDirectory: state, manager: nil) }
        #expect(error?.code == .journal && error?.message.contains("orders/x.json") == true, "\(String(describing: error))")
        // A record filed under another order's name is refused too.
        try FileManager.default.removeItem(atPath: "\(state)/orders/x.json")
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        try RegionJSON.encode(MigrationOrderStatus(order: Self.resume, state: .done, acceptedAt: at, updatedAt: at))
            .write(to: URL(fileURLWithPath: "\(state)/orders/other.json"))
        let misfiled = await #expect(throws: MigrationOrderError.self) { try await OrderBook(hostId: "host-2", stateDirectory: state, manager: nil) }
        #expect(misfiled?.code == .journal)
    }
}
