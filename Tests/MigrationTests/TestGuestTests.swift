import Foundation
import BuiltInGuests
import Migration
import Testing

@Suite("Test guest boot sector")
struct TestGuestTests {
    static func asmPath(_ name: String) -> String {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/BuiltInGuests/\(name).asm").path
    }

    @Test("the embedded bytes equal a fresh nasm assembly of counter.asm and ticker.asm",
          arguments: [("counter", TestGuest.bootSector), ("ticker", TestGuest.tickerBootSector)])
    func matchesAssembly(name: String, embedded: [UInt8]) async throws {
        let out = "/tmp/smg-\(UUID().uuidString.prefix(8)).bin"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try await SystemCommandRunner().run(["nasm", "-f", "bin", "-o", out, Self.asmPath(name)])
        #expect(result.status == 0, "\(result.stderr)")
        let fresh = try #require(FileManager.default.contents(atPath: out))
        #expect([UInt8](fresh) == embedded)
    }

    @Test("it is a boot sector")
    func shape() throws {
        #expect(TestGuest.bootSector.count == 512)
        #expect(TestGuest.bootSector[510] == 0x55 && TestGuest.bootSector[511] == 0xAA)
        let path = "/tmp/smg-\(UUID().uuidString.prefix(8)).img"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try TestGuest.writeImage(to: path)
        let image = try #require(FileManager.default.contents(atPath: path))
        #expect(image.count == 1_474_560)
        #expect([UInt8](image.prefix(512)) == TestGuest.bootSector)
    }
}
