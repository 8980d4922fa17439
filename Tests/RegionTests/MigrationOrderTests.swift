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

/// The machine a prepare order carries for a QEMU target: optional, so libvirt's orders and the journals written before
/// it read and encode as they did.
@Suite("A prepare order's machine")
struct MigrationOrderMachineTests {
    static let machine = VMMachine(machineType: "pc-i440fx-7.2", memoryMiB: 32, vcpus: 1, bootImage: "/var/lib/smig-attest/images/guest.img")
    static let prepare = MigrationOrder(orderId: "r1.m7.web-1.prepare", host: "host-2", vm: "web-1", role: .target, step: .prepare, machine: machine)

    @Test func aPrepareOrderWithItsMachineRoundTrips() throws {
        #expect(try MigrationOrder.decode(RegionJSON.encode(Self.prepare)) == Self.prepare)
        let vm = HostVM(name: "web-1", uuid: nil, vcpus: 1, memoryMiB: 32, state: "running", persistent: false, machine: Self.machine)
        #expect(try RegionJSON.decode(HostVM.self, from: RegionJSON.encode(vm)) == vm)
    }

    @Test func libvirtsOrdersAndOldJournalsAreUnchanged() throws {
        var plain = Self.prepare
        plain.machine = nil
        let text = String(decoding: RegionJSON.encode(plain), as: UTF8.self)
        #expect(!text.contains("machine"), "\(text)")
        // A record journaled before orders had a machine, as an agent wrote it then.
        let old = """
            {"acceptedAt":"2027-01-15T08:00:00Z","migrationAddress":"qemu+tls://10.0.0.12/system","order":{"host":"host-2","orderId":"r1.m7.web-1.prepare",\
            "role":"target","step":"prepare","vm":"web-1"},"state":"done","updatedAt":"2027-01-15T08:00:01Z","vmState":"absent"}
            """
        let record = try RegionJSON.decode(MigrationOrderStatus.self, from: Data(old.utf8))
        #expect(record.order == plain && record.state == .done)
        #expect(try MigrationOrder.decode(RegionJSON.encode(record.order)) == plain)
        let report = try RegionJSON.decode(HostVM.self, from: Data(#"{"name":"web-1","vcpus":1,"memoryMiB":64,"state":"running","persistent":true}"#.utf8))
        #expect(report.machine == nil)
    }

    static let malformed: [(String, @Sendable (inout MigrationOrder) -> Void)] = [
        ("a machine on a resume order", { $0.step = .resume }),
        ("a machine type with a comma", { $0.machine?.machineType = "pc,accel=kvm" }),
        ("an upper-case machine type", { $0.machine?.machineType = "PC" }),
        ("no memory", { $0.machine?.memoryMiB = 0 }),
        ("too many vCPUs", { $0.machine?.vcpus = 65 }),
        ("a relative boot image", { $0.machine?.bootImage = "images/guest.img" }),
        ("a boot image with a comma", { $0.machine?.bootImage = "/images/guest.img,format=qcow2" }),
        ("a boot image climbing out", { $0.machine?.bootImage = "/var/lib/smig-attest/images/../../../etc/shadow" }),
        ("a boot image with a space", { $0.machine?.bootImage = "/images/a b.img" }),
    ]

    @Test(arguments: 0..<malformed.count)
    func aBadMachineIsRefusedWithItsCode(_ i: Int) throws {
        let (what, edit) = Self.malformed[i]
        var order = Self.prepare
        edit(&order)
        let error = #expect(throws: MigrationOrderError.self, "\(what)") { try MigrationOrder.decode(RegionJSON.encode(order)) }
        #expect(error?.code == .malformed, "\(what): \(String(describing: error))")
    }
}
