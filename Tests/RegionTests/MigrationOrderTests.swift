import Foundation
import RegionProtocol
import Testing

/// The migration order as agents read it: strictly, and only what an agent may act on.
@Suite("Migration orders on the wire")
struct MigrationOrderTests {
    static let migrate = MigrationOrder(
        orderId: "r1.m7.web-1.migrate", host: "host-1", vm: "web-1", role: .source, step: .migrate,
        target: .init(host: "host-2", migrationAddress: "qemu+tls://10.0.0.12/system"),
        tuning: .init(maxBandwidthMiBps: 10_240, downtimeLimitMs: 50, autoConverge: true, parallelConnections: 0))

    @Test func anOrderRoundTrips() throws {
        let decoded = try MigrationOrder.decode(RegionJSON.encode(Self.migrate))
        #expect(decoded == Self.migrate)
        let prepare = MigrationOrder(orderId: "r1.m7.web-1.prepare", host: "host-2", vm: "web-1", role: .target, step: .prepare)
        #expect(try MigrationOrder.decode(RegionJSON.encode(prepare)) == prepare)
    }

    static func json(_ edit: @Sendable (inout [String: Any]) -> Void) throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: RegionJSON.encode(Self.migrate)) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    static let malformed: [(String, @Sendable (inout [String: Any]) -> Void)] = [
        ("an unknown field", { $0["force"] = true }),
        ("an unknown nested field", { $0["tuning"] = ["autoConverge": true, "parallelConnections": 0, "compress": true] }),
        ("a missing step", { $0["step"] = nil }),
        ("an unknown step", { $0["step"] = "destroy" }),
        ("an order id that names another directory", { $0["orderId"] = "../../etc/passwd" }),
        ("an order id starting with a dot", { $0["orderId"] = ".hidden" }),
        ("an empty order id", { $0["orderId"] = "" }),
        ("a VM name with a slash", { $0["vm"] = "a/b" }),
        ("a host that is no host id", { $0["host"] = "Host 1" }),
        ("a target preparing to send", { $0["role"] = "target" }),
        ("a migrate order without its target", { $0["target"] = nil }),
        ("a migrate order to its own host", { $0["target"] = ["host": "host-1", "migrationAddress": "qemu+tls://x/system"] }),
        ("a migration address with a newline", { $0["target"] = ["host": "host-2", "migrationAddress": "qemu+tls://x/system\n--flag"] }),
        ("a zero bandwidth", { $0["tuning"] = ["autoConverge": true, "parallelConnections": 0, "maxBandwidthMiBps": 0] }),
        ("too many parallel connections", { $0["tuning"] = ["autoConverge": true, "parallelConnections": 1000] }),
        ("a null where a field is absent", { $0["tuning"] = NSNull() }),
    ]

    @Test(arguments: 0..<malformed.count)
    func aMalformedOrderIsRefusedWithItsCode(_ i: Int) throws {
        let (what, edit) = Self.malformed[i]
        let error = #expect(throws: MigrationOrderError.self, "\(what)") { try MigrationOrder.decode(try Self.json(edit)) }
        #expect(error?.code == .malformed, "\(what): \(String(describing: error))")
    }

    @Test func aDuplicateKeyAndTrailingBytesAreRefused() {
        let text = String(decoding: RegionJSON.encode(Self.migrate), as: UTF8.self)
        let duplicate = text.replacingOccurrences(of: "{\"host\":", with: "{\"host\":\"host-9\",\"host\":")
        #expect(duplicate != text)
        for bad in [duplicate, text + "{}", "not json", String(repeating: "[", count: 100)] {
            let error = #expect(throws: MigrationOrderError.self) { try MigrationOrder.decode(Data(bad.utf8)) }
            #expect(error?.code == .malformed)
        }
    }

    @Test func onlyTheMigrateStepNamesATargetOrTuning() {
        var resume = MigrationOrder(orderId: "o1", host: "host-2", vm: "web-1", role: .target, step: .resume)
        #expect(throws: Never.self) { try resume.validate() }
        resume.tuning = .init()
        let error = #expect(throws: MigrationOrderError.self) { try resume.validate() }
        #expect(error?.code == .malformed)
        for step in MigrationOrder.Step.allCases {
            #expect(MigrationOrder.allows(.source, step) || MigrationOrder.allows(.target, step), "\(step)")
        }
        #expect(!MigrationOrder.allows(.source, .prepare) && !MigrationOrder.allows(.target, .migrate) && !MigrationOrder.allows(.target, .cancel))
    }
}
