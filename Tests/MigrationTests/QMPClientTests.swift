import Foundation
import Migration
import Testing

@Suite("QMP client against misbehaving peers")
struct QMPClientTests {
    func withServer(_ behaviour: FakeQMPServer.Behaviour, _ body: (String) async throws -> Void) async throws {
        let path = "/tmp/smq-\(UUID().uuidString.prefix(8)).sock"
        let server = try FakeQMPServer(path: path, behaviour: behaviour)
        defer { server.stop() }
        try await body(path)
    }

    @Test("garbage instead of a greeting is a protocol error")
    func garbage() async throws {
        try await withServer(.garbage) { path in
            let error = await #expect(throws: MigrationError.self) { try await QMPClient.connect(path: path, timeout: .seconds(2)) }
            #expect(error?.code == .qmpProtocol)
        }
    }

    @Test("a peer that never speaks times out", arguments: [FakeQMPServer.Behaviour.silent, .greetingThenSilent])
    func hang(_ behaviour: FakeQMPServer.Behaviour) async throws {
        try await withServer(behaviour) { path in
            let error = await #expect(throws: MigrationError.self) { try await QMPClient.connect(path: path, timeout: .milliseconds(500)) }
            #expect(error?.code == .qmpTimeout)
        }
    }

    @Test("an endless line is refused, not buffered without bound")
    func endless() async throws {
        try await withServer(.endlessLine) { path in
            let error = await #expect(throws: MigrationError.self) { try await QMPClient.connect(path: path, timeout: .seconds(60)) }
            #expect(error?.code == .qmpProtocol)
        }
    }

    @Test("a command error carries QEMU's class and description")
    func commandError() async throws {
        try await withServer(.errorReplies) { path in
            let client = try await QMPClient.connect(path: path, timeout: .seconds(2))
            defer { client.close() }
            #expect(client.qemuVersion == "7.2.0")
            let error = await #expect(throws: MigrationError.self) { try await client.execute("query-status") }
            #expect(error?.code == .qmpCommandFailed)
            #expect(error?.reason.contains("GenericError: nope") == true)
        }
    }

    @Test("no socket at all: bounded connect failure")
    func noSocket() async throws {
        let error = await #expect(throws: MigrationError.self) {
            try await QMPClient.connect(path: "/tmp/smq-does-not-exist.sock", timeout: .milliseconds(300))
        }
        #expect(error?.code == .qmpTimeout)
    }

    @Test("socket path too long for sockaddr_un")
    func longPath() async throws {
        let error = await #expect(throws: MigrationError.self) {
            try await QMPClient.connect(path: "/tmp/" + String(repeating: "x", count: 200), timeout: .milliseconds(300))
        }
        #expect(error?.code == .invalidArgument)
    }
}
