import Foundation
import BuiltInGuests
import Logging
import Migration
import Policy
import RegionProtocol
import RegionTCB
import Testing
import TPMWire

/// The target rules of the decision engine and the gated `migrate`, on a real SQLite IVT and VM inventory:
/// a target that is stale, untrusted, unknown, excluded or full is refused with its code and nothing moves.
@Suite("Evacuation target rules")
struct EvacuatorTargetTests {
    struct Fixture {
        var evacuator: Evacuator
        var store: IVTStore
        var inventory: VMInventory
    }

    static func fixture() async throws -> Fixture {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-evac-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let yaml = """
            kind: region
            version: 1
            name: rules
            hosts:
              - {id: host-1, address: 127.0.0.1, port: 41001}
              - {id: host-2, address: 127.0.0.1, port: 41002}
              - {id: host-3, address: 127.0.0.1, port: 41003}
              - {id: host-4, address: 127.0.0.1, port: 41004, capacity: {vcpus: 4, memory-mib: 64}}
              - {id: host-5, address: 127.0.0.1, port: 41005}
              - {id: host-6, address: 127.0.0.1, port: 41006}
            ring: [host-1, host-2, host-3, host-4, host-5, host-6]
            intervals: {measurement: 1s, challenge: 10s}
            quote-freshness: 120s
            unreachable-timeout: 30s
            targets: {max-quote-age: 60s, exclude: [host-5]}
            """
        let policy = try RegionPolicy(yaml: yaml, file: "rules.yaml")
        let store = try IVTStore(path: "\(dir)/ivt.sqlite")
        try store.seed(hosts: policy.hosts.map { ($0.id, $0.endpoint.address, $0.capacityVCPUs) }, policyName: "rules", policyDigest: "-")
        let now = Date()
        try store.set(.init(state: .trusted, quoteAt: now), to: "host-1")
        try store.set(.init(state: .trusted, quoteAt: now.addingTimeInterval(-300)), to: "host-2")   // stale quote
        try store.set(.init(state: .untrusted, code: "golden.digest-not-allowed", quoteAt: now), to: "host-3")
        try store.set(.init(state: .trusted, quoteAt: now), to: "host-4")                            // full
        try store.set(.init(state: .trusted, quoteAt: now), to: "host-5")                            // excluded
        try store.set(.init(state: .trusted, quoteAt: now), to: "host-6")                            // fine
        let region = RegionState(store: store, hosts: policy.hosts.map { .init(id: $0.id, address: $0.endpoint.address, port: $0.endpoint.port, golden: nil) },
                                 order: policy.ring, selection: try PCRSelectionList(parsing: "sha256:0-7,15"), nonceLifetime: 30, logger: Logger(label: "test"),
                                 challenger: NoChallenger.silent)
        let inventory = try VMInventory(path: "\(dir)/vms.sqlite")
        for (i, h) in policy.hosts.enumerated() {
            try inventory.addHost(MigrationHost(name: h.id, address: "127.0.0.1", portLow: 42000 + i * 2, portHigh: 42001 + i * 2, stateDirectory: "\(dir)/hosts/\(h.id)"))
        }
        try inventory.addVM(VMDescription(name: "big", memoryMiB: 48, bootImage: "/nonexistent.img"), host: "host-1", state: .running)
        try inventory.addVM(VMDescription(name: "resident", memoryMiB: 32, bootImage: "/nonexistent.img"), host: "host-4", state: .running)
        let evacuator = try Evacuator(region: region, orchestrator: MigrationOrchestrator(inventory: inventory), policy: policy, logger: Logger(label: "test"))
        return Fixture(evacuator: evacuator, store: store, inventory: inventory)
    }

    @Test("each refused target names its reason and nothing moves",
          arguments: [("host-2", "migrate.target-stale"), ("host-3", "migrate.target-untrusted"), ("host-9", "migrate.target-unknown"),
                      ("host-4", "migrate.target-full"), ("host-5", "migrate.target-excluded"), ("host-1", "migrate.same-host")])
    func refused(target: String, code: String) async throws {
        let f = try await Self.fixture()
        let eventsBefore = try f.store.events().count
        let error = await #expect(throws: RegionError.self, "moved to \(target)") { try await f.evacuator.migrate(vm: "big", to: target) }
        #expect(error?.code.rawValue == code, "\(String(describing: error))")
        #expect(try f.inventory.vm(named: "big").host == "host-1")
        #expect(try f.inventory.vm(named: "big").state == .running)
        #expect(try f.inventory.migrations(vm: "big").isEmpty)
        #expect(try f.store.events().count == eventsBefore)
    }

    @Test("a host the policy gives no capacity is placed against what its agent reports; the policy's figure wins")
    func reportedCapacity() async throws {
        let f = try await Self.fixture()
        // host-6 has no capacity in the policy: "big" (48 MiB) fits until its agent reports 32 MiB of room.
        #expect(await f.evacuator.candidates(for: "big", excluding: ["host-1"]) == ["host-6"])
        await f.evacuator.recordReportedCapacity(HostCapacity(vcpus: 8, memoryMiB: 32), of: "host-6")
        #expect(await f.evacuator.candidates(for: "big", excluding: ["host-1"]).isEmpty)
        let full = await #expect(throws: RegionError.self) { try await f.evacuator.migrate(vm: "big", to: "host-6") }
        #expect(full?.code.rawValue == "migrate.target-full" && full?.reason.contains("agent's report") == true, "\(String(describing: full))")
        await f.evacuator.recordReportedCapacity(HostCapacity(vcpus: 8, memoryMiB: 4096), of: "host-6")
        #expect(await f.evacuator.candidates(for: "big", excluding: ["host-1"]) == ["host-6"])
        // host-4's policy capacity (64 MiB, 32 taken) stays the limit whatever its agent says.
        await f.evacuator.recordReportedCapacity(HostCapacity(vcpus: 64, memoryMiB: 1 << 20), of: "host-4")
        #expect(await !f.evacuator.candidates(for: "big", excluding: ["host-1"]).contains("host-4"))
        #expect(try f.inventory.vm(named: "big").host == "host-1")
    }

    @Test("evacuation candidates: only trusted hosts with a fresh quote, room, not excluded")
    func candidates() async throws {
        let f = try await Self.fixture()
        #expect(await f.evacuator.candidates(for: "big", excluding: ["host-1"]) == ["host-6"])
    }

    @Test("no trusted target: the VM is paused at the source (policy no-target: pause) and the operator is told")
    func noTargetPauses() async throws {
        let f = try await Self.fixture()
        try f.store.set(.init(state: .untrusted, code: "golden.digest-not-allowed"), to: "host-1")
        try f.store.set(.init(state: .untrusted, code: "golden.digest-not-allowed"), to: "host-6")
        let dir = URL(fileURLWithPath: f.inventory.path).deletingLastPathComponent().path
        let image = try TestGuest.writeImage(to: "\(dir)/ticker.img", kind: .ticker)
        let orchestrator = MigrationOrchestrator(inventory: f.inventory)
        try await orchestrator.startVM(VMDescription(name: "held", memoryMiB: 16, bootImage: image), on: "host-1")
        try f.inventory.removeVM("big")
        await f.evacuator.evacuate("host-1")
        let record = try f.inventory.vm(named: "held")
        #expect(record.host == "host-1" && record.state == .paused)
        let d = QEMUDriver()
        let host = try f.inventory.host(named: "host-1")
        #expect(await d.state(of: d.instance(of: "held", on: host, port: nil)) == .paused)
        let told = try #require(try f.store.events().first { $0.evacuationStep == .noTarget && $0.host == "host-1" })
        #expect(told.evacuation == EvacuationFields(vm: "held", source: "host-1", outcome: .paused), "\(told)")
        #expect(told.evacuation?.evacuationOutcome == .paused)
        #expect(try f.store.row("host-1")?.state == .evacuating)
        try await orchestrator.stopVM("held")
    }

    @Test("an unknown VM is refused")
    func unknownVM() async throws {
        let f = try await Self.fixture()
        let error = await #expect(throws: RegionError.self) { try await f.evacuator.migrate(vm: "ghost", to: "host-6") }
        #expect(error?.code == .migrateUnknownVM)
    }
}
