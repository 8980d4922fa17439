import Foundation
import Migration
import Testing

@Suite("VM inventory")
struct VMInventoryTests {
    func fresh() throws -> (VMInventory, String) {
        let dir = "/tmp/smi-\(UUID().uuidString.prefix(8))"
        let inv = try VMInventory(stateDirectory: dir)
        try inv.addHost(MigrationHost(name: "a", address: "127.0.0.1", portLow: 47000, portHigh: 47009, stateDirectory: "\(dir)/a"))
        try inv.addHost(MigrationHost(name: "b", address: "127.0.0.1", portLow: 47010, portHigh: 47019, stateDirectory: "\(dir)/b"))
        return (inv, dir)
    }

    @Test("unknown VM and unknown host have their own codes, and change nothing")
    func unknowns() throws {
        let (inv, dir) = try fresh()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let before = try inv.events().count
        let ghostVM = #expect(throws: MigrationError.self) { try inv.vm(named: "ghost") }
        #expect(ghostVM?.code == .unknownVM)
        let nowhereHost = #expect(throws: MigrationError.self) { try inv.host(named: "nowhere") }
        #expect(nowhereHost?.code == .unknownHost)
        let vm = VMDescription(name: "v", memoryMiB: 16, bootImage: "/x.img")
        let addToNowhere = #expect(throws: MigrationError.self) { try inv.addVM(vm, host: "nowhere", state: .running) }
        #expect(addToNowhere?.code == .unknownHost)
        let migrateGhost = #expect(throws: MigrationError.self) { try inv.beginMigration(vm: "ghost", source: "a", target: "b", port: 47010) }
        #expect(migrateGhost?.code == .unknownVM)
        #expect(try inv.vms().isEmpty)
        #expect(try inv.events().count == before)
    }

    @Test("bad host definitions are refused", arguments: [
        MigrationHost(name: "bad name", address: "127.0.0.1", portLow: 47100, portHigh: 47110, stateDirectory: "/tmp/x"),
        MigrationHost(name: "c", address: "localhost; rm", portLow: 47100, portHigh: 47110, stateDirectory: "/tmp/x"),
        MigrationHost(name: "c", address: "127.0.0.1", portLow: 80, portHigh: 90, stateDirectory: "/tmp/x"),
        MigrationHost(name: "c", address: "127.0.0.1", portLow: 47110, portHigh: 47100, stateDirectory: "/tmp/x"),
        MigrationHost(name: "c", address: "127.0.0.1", portLow: 47005, portHigh: 47050, stateDirectory: "/tmp/x"), // overlaps a
        MigrationHost(name: "c", address: "127.0.0.1", portLow: 47100, portHigh: 47110, stateDirectory: "relative"),
    ])
    func badHosts(_ host: MigrationHost) throws {
        let (inv, dir) = try fresh()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let error = #expect(throws: MigrationError.self) { try inv.addHost(host) }
        #expect(error?.code == .invalidArgument)
        #expect(try inv.hosts().map(\.name) == ["a", "b"])
    }

    @Test("each step is persisted, one open migration per VM, and the audit trail follows")
    func steps() throws {
        let (inv, dir) = try fresh()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vm = VMDescription(name: "v", memoryMiB: 16, bootImage: "/x.img")
        try inv.addVM(vm, host: "a", state: .running)
        let m = try inv.beginMigration(vm: "v", source: "a", target: "b", port: 47011)
        #expect(try inv.vm(named: "v").state == .migrating)
        let twice = #expect(throws: MigrationError.self) { try inv.beginMigration(vm: "v", source: "a", target: "b", port: 47012) }
        #expect(twice?.code == .wrongState)
        #expect(twice?.reason.contains("open migration (a -> b at step planned)") == true, "\(String(describing: twice))")
        #expect(twice?.reason.contains("vms --recover") == true)
        try inv.record(.targetPrepared, migration: m.id)
        // Reopen from disk: a new process sees the same state.
        let again = try VMInventory(stateDirectory: dir)
        #expect(try again.openMigrations().map(\.step) == [.targetPrepared])
        #expect(try again.reservedPorts(host: "b") == [47011])
        try again.finishMigration(m.id, outcome: .completed, vmHost: "b", vmState: .running)
        #expect(try inv.openMigrations().isEmpty)
        #expect(try inv.vm(named: "v").host == "b")
        #expect(try inv.migrations(vm: "v").map(\.step) == [.completed])
        #expect(try inv.events(vm: "v").map(\.what) == ["vm-added", "migration-planned", "migration-target-prepared", "migration-completed"])
        let closed = #expect(throws: MigrationError.self) { try inv.record(.transferred, migration: m.id) }
        #expect(closed?.code == .inventory)
    }

    @Test("a host is removed only when no VM and no open migration names it; history stays")
    func removeHost() throws {
        let (inv, dir) = try fresh()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try inv.addVM(VMDescription(name: "v", memoryMiB: 16, bootImage: "/x.img"), host: "a", state: .running)
        let busy = #expect(throws: MigrationError.self) { try inv.removeHost("a") }
        #expect(busy?.code == .wrongState && busy?.reason.contains("v") == true)
        let m = try inv.beginMigration(vm: "v", source: "a", target: "b", port: 47011)
        let openTarget = #expect(throws: MigrationError.self) { try inv.removeHost("b") }
        #expect(openTarget?.code == .wrongState, "b is an open migration's target")
        try inv.finishMigration(m.id, outcome: .completed, vmHost: "b", vmState: .running)
        try inv.removeHost("a")
        #expect(try inv.hosts().map(\.name) == ["b"])
        #expect(try inv.migrations(vm: "v").count == 1, "the migration history stays")
        #expect(try inv.events().last?.what == "host-removed")
        let gone = #expect(throws: MigrationError.self) { try inv.removeHost("a") }
        #expect(gone?.code == .unknownHost)
    }

    @Test("create: false does not conjure an inventory")
    func noInventory() throws {
        let dir = "/tmp/smi-\(UUID().uuidString.prefix(8))"
        let error = #expect(throws: MigrationError.self) { try VMInventory(stateDirectory: dir, create: false) }
        #expect(error?.code == .noInventory)
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("bad VM descriptions are refused", arguments: [
        VMDescription(name: "", memoryMiB: 16, bootImage: "/x.img"),
        VMDescription(name: "a/b", memoryMiB: 16, bootImage: "/x.img"),
        VMDescription(name: "v", machineType: "pc,accel=kvm", memoryMiB: 16, bootImage: "/x.img"),
        VMDescription(name: "v", memoryMiB: 0, bootImage: "/x.img"),
        VMDescription(name: "v", memoryMiB: 16, cpus: 0, bootImage: "/x.img"),
        VMDescription(name: "v", memoryMiB: 16, bootImage: "/x.img,if=none"),
        VMDescription(name: "v", memoryMiB: 16, bootImage: "x.img"),
    ])
    func badDescriptions(_ vm: VMDescription) throws {
        let error = #expect(throws: MigrationError.self) { try vm.validate() }
        #expect(error?.code == .invalidArgument)
    }
}
