import Foundation
import Migration
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

extension Backend {
    /// Runs `body` on a fresh inventory with hosts `a` (ports 47000-47009) and `b` (47010-47019): the SQLite file
    /// in a temporary directory, or region `region-a`'s inventory in a throw-away PostgreSQL cluster (the operator's,
    /// unfenced).
    func withInventory<T>(_ body: (any VMInventoryStore) async throws -> T) async throws -> T {
        switch self {
        case .sqlite:
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("inventory-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let inventory = try VMInventory(stateDirectory: dir)
            try await addTwoHosts(inventory)
            return try await body(inventory)
        case .postgresql:
            return try await PostgresCluster.with { cluster in
                try await withPostgresStores(url: cluster.url, regions: ["region-a"]) { stores in
                    let inventory = try await stores[0].vmInventory(.operator)
                    try await addTwoHosts(inventory)
                    return try await body(inventory)
                }
            }
        }
    }
}

func addTwoHosts(_ inventory: any VMInventoryStore) async throws {
    try await inventory.addHost(MigrationHost(name: "a", address: "127.0.0.1", portLow: 47000, portHigh: 47009, stateDirectory: "/tmp/inventory-a"))
    try await inventory.addHost(MigrationHost(name: "b", address: "127.0.0.1", portLow: 47010, portHigh: 47019, stateDirectory: "/tmp/inventory-b"))
}

let smallVM = VMDescription(name: "v", memoryMiB: 16, bootImage: "/x.img")

/// The VM inventory and the per-step migration journal, the same on SQLite and on PostgreSQL: the same refusals with
/// the same codes (nothing changed), each step committed with its audit event; and on PostgreSQL, regions that share
/// the database see only their own rows, and a leader's writes are fenced by its lease like its IVT writes.
@Suite("VM inventory (SQLite and PostgreSQL)", .timeLimit(.minutes(10)))
struct VMInventoryStoreLiveTests {
    @Test(arguments: Backend.allCases)
    func eachStepIsCommittedWithItsEvent(_ backend: Backend) async throws {
        try await backend.withInventory { inv in
            try await inv.addVM(smallVM, host: "a", state: .running)
            let m = try await inv.beginMigration(vm: "v", source: "a", target: "b", port: 47011)
            #expect(m.step == .planned && m.outcome == nil)
            #expect(try await inv.vm(named: "v").state == .migrating)
            let twice = await #expect(throws: MigrationError.self) { _ = try await inv.beginMigration(vm: "v", source: "a", target: "b", port: 47012) }
            #expect(twice?.code == .wrongState)
            #expect(twice?.reason.contains("open migration (a -> b at step planned)") == true, "\(String(describing: twice))")
            try await inv.record(.targetPrepared, migration: m.id, detail: "port 47011")
            #expect(try await inv.openMigrations().map(\.step) == [.targetPrepared])
            #expect(try await inv.reservedPorts(host: "b") == [47011])
            try await inv.finishMigration(m.id, outcome: .completed, vmHost: "b", vmState: .running, error: nil)
            #expect(try await inv.openMigrations().isEmpty)
            #expect(try await inv.reservedPorts(host: "b").isEmpty)
            let record = try await inv.vm(named: "v")
            #expect(record.host == "b" && record.state == .running && record.description == smallVM)
            #expect(try await inv.migrations(vm: "v").map(\.step) == [.completed])
            #expect(try await inv.migrations(vm: "v").map(\.outcome) == [.completed])
            #expect(try await inv.events(vm: "v").map(\.what) == ["vm-added", "migration-planned", "migration-target-prepared", "migration-completed"])
            #expect(try await inv.events(vm: nil).map(\.what).prefix(2) == ["host-added", "host-added"])
            let closed = await #expect(throws: MigrationError.self) { try await inv.record(.transferred, migration: m.id, detail: "") }
            #expect(closed?.code == .inventory)
        }
    }

    /// An agent's answer is a stranger's text, and the orchestrator journals it: the strict JSON reader decodes
    /// `\u0000` to U+0000, which PostgreSQL's `text` refuses (the step's write fails, and the migration stays open
    /// with its VM `migrating`) and SQLite's text reader cuts at. Both stores keep it with U+FFFD in its place.
    @Test(arguments: Backend.allCases)
    func aNULInAnAgentsTextIsJournalledReplaced(_ backend: Backend) async throws {
        try await backend.withInventory { inv in
            try await inv.addVM(smallVM, host: "a", state: .running)
            let m = try await inv.beginMigration(vm: "v", source: "a", target: "b", port: 47011)
            try await inv.record(.targetPrepared, migration: m.id, detail: "b's agent: ready\u{0}then")
            try await inv.finishMigration(m.id, outcome: .rolledBack, vmHost: "a", vmState: .running,
                                          error: "a's agent: migrate of v failed: io: x\u{0}y")
            try await inv.setVM("v", host: "a", state: .paused, why: "a's agent: pause \u{0}done")
            #expect(try await inv.openMigrations().isEmpty)
            #expect(try await inv.migrations(vm: "v").map(\.error) == ["a's agent: migrate of v failed: io: x\u{FFFD}y"])
            let record = try await inv.vm(named: "v")
            #expect(record.host == "a" && record.state == .paused)
            let details = try await inv.events(vm: "v").map(\.detail)
            #expect(details.contains("b's agent: ready\u{FFFD}then"), "\(details)")
            #expect(details.contains { $0.hasSuffix("x\u{FFFD}y") }, "\(details)")
            #expect(details.contains("on a: a's agent: pause \u{FFFD}done"), "\(details)")
            #expect(!details.contains { $0.unicodeScalars.contains("\u{0}") })
        }
    }

    @Test(arguments: Backend.allCases)
    func refusalsHaveTheirCodesAndChangeNothing(_ backend: Backend) async throws {
        try await backend.withInventory { inv in
            try await inv.addVM(smallVM, host: "a", state: .running)
            let before = try await inv.events(vm: nil).count
            let cases: [(MigrationError.Code, @Sendable () async throws -> Void)] = [
                (.unknownVM, { _ = try await inv.vm(named: "ghost") }),
                (.unknownHost, { _ = try await inv.host(named: "nowhere") }),
                (.unknownHost, { try await inv.addVM(VMDescription(name: "w", memoryMiB: 16, bootImage: "/x.img"), host: "nowhere", state: .running) }),
                (.alreadyExists, { try await inv.addVM(smallVM, host: "b", state: .running) }),
                (.alreadyExists, { try await inv.addHost(MigrationHost(name: "a", address: "127.0.0.1", portLow: 48000, portHigh: 48001, stateDirectory: "/tmp/x")) }),
                (.invalidArgument, { try await inv.addHost(MigrationHost(name: "c", address: "127.0.0.1", portLow: 47005, portHigh: 47050, stateDirectory: "/tmp/x")) }),
                (.unknownVM, { _ = try await inv.beginMigration(vm: "ghost", source: "a", target: "b", port: 47010) }),
                (.wrongState, { _ = try await inv.beginMigration(vm: "v", source: "b", target: "a", port: 47001) }),
                (.unknownVM, { try await inv.setVM("ghost", host: "a", state: .running, why: "test") }),
                (.unknownVM, { try await inv.removeVM("ghost") }),
                (.wrongState, { try await inv.removeHost("a") }),
                (.unknownHost, { try await inv.removeHost("nowhere") }),
                (.inventory, { try await inv.finishMigration(999_999, outcome: .completed, vmHost: "a", vmState: .running, error: nil) }),
            ]
            for (code, call) in cases {
                let error = await #expect(throws: MigrationError.self) { try await call() }
                #expect(error?.code == code, "\(String(describing: error))")
            }
            #expect(try await inv.events(vm: nil).count == before)
            #expect(try await inv.hosts().map(\.name) == ["a", "b"])
            #expect(try await inv.vms().map { "\($0.name)@\($0.host):\($0.state.rawValue)" } == ["v@a:running"])
            #expect(try await inv.openMigrations().isEmpty)
        }
    }

    /// A port of a target held by one open migration is refused to a second one.
    @Test(arguments: Backend.allCases)
    func aReservedPortIsRefused(_ backend: Backend) async throws {
        try await backend.withInventory { inv in
            try await inv.addVM(smallVM, host: "a", state: .running)
            try await inv.addVM(VMDescription(name: "w", memoryMiB: 16, bootImage: "/x.img"), host: "a", state: .paused)
            _ = try await inv.beginMigration(vm: "v", source: "a", target: "b", port: 47011)
            let taken = await #expect(throws: MigrationError.self) { _ = try await inv.beginMigration(vm: "w", source: "a", target: "b", port: 47011) }
            #expect(taken?.code == .noFreePort)
            #expect(try await inv.vm(named: "w").state == .paused)
            #expect(try await inv.beginMigration(vm: "w", source: "a", target: "b", port: 47012).port == 47012)
        }
    }

    /// Two regions in one database, with the same host and VM names: each sees its own inventory, journal and audit
    /// trail only; its migration order prefix is its own, and the same for every RC-TCB of the region.
    @Test func regionsSharingADatabaseSeeOnlyTheirOwnRows() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["east", "west", "east"]) { stores in
                let east = try await stores[0].vmInventory(.operator), west = try await stores[1].vmInventory(.operator)
                let eastAgain = try await stores[2].vmInventory(.operator)
                try await addTwoHosts(east)
                try await addTwoHosts(west)
                try await east.addVM(smallVM, host: "a", state: .running)
                try await west.addVM(VMDescription(name: "v", memoryMiB: 32, bootImage: "/y.img"), host: "b", state: .paused)
                let m = try await east.beginMigration(vm: "v", source: "a", target: "b", port: 47011)

                let westVM = try await west.vm(named: "v")
                #expect(westVM.host == "b" && westVM.state == .paused && westVM.description.memoryMiB == 32)
                #expect(try await west.openMigrations().isEmpty)
                #expect(try await west.migrations(vm: "v").isEmpty)
                #expect(try await west.reservedPorts(host: "b").isEmpty)
                #expect(try await west.events(vm: "v").map(\.what) == ["vm-added"])
                #expect(try await west.events(vm: nil).count == 3)
                // West cannot touch east's journal row, even by its id.
                let foreign = await #expect(throws: MigrationError.self) { try await west.record(.targetPrepared, migration: m.id, detail: "") }
                #expect(foreign?.code == .inventory)
                #expect(try await eastAgain.openMigrations() == [m])
                try await west.removeVM("v")
                #expect(try await east.vm(named: "v").state == .migrating)

                #expect(east.orderPrefix == eastAgain.orderPrefix)
                #expect(east.orderPrefix != west.orderPrefix)
                #expect(east.orderPrefix.count == 16 && east.orderPrefix.allSatisfy(\.isHexDigit))
            }
        }
    }

    /// The leader's inventory writes carry its lease: refused (`store.fenced`, nothing changed) once another RC-TCB
    /// leads, and at once while it follows; the new leader's go through.
    @Test func theLeadersWritesAreFencedByItsLease() async throws {
        try await PostgresCluster.with { cluster in
            try await withPostgresStores(url: cluster.url, regions: ["r", "r"]) { stores in
                let (a, b) = (stores[0], stores[1])
                let first = try #require(try await a.acquireLease(holder: "rctcb-a", for: .seconds(600)))
                let oldLeader = try await a.vmInventory(.leader({ first }))
                try await addTwoHosts(oldLeader)
                try await oldLeader.addVM(smallVM, host: "a", state: .running)
                let m = try await oldLeader.beginMigration(vm: "v", source: "a", target: "b", port: 47011)

                try await a.releaseLease(first)
                let second = try #require(try await b.acquireLease(holder: "rctcb-b", for: .seconds(600)))
                let newLeader = try await b.vmInventory(.leader({ second }))
                let before = try await newLeader.events(vm: nil).count
                let refused = await #expect(throws: RegionError.self) { try await oldLeader.record(.targetPrepared, migration: m.id, detail: "") }
                #expect(refused?.code == .storeFenced && refused?.reason.contains("rctcb-b") == true, "\(String(describing: refused))")
                let follower = try await a.vmInventory(.leader({ nil }))
                let following = await #expect(throws: RegionError.self) { try await follower.setVM("v", host: "a", state: .running, why: "test") }
                #expect(following?.code == .storeFenced)
                #expect(try await newLeader.events(vm: nil).count == before)
                #expect(try await newLeader.openMigrations().map(\.step) == [.planned])
                // Reads need no lease; the new leader finishes the journal's open row.
                #expect(try await follower.vms().map(\.state) == [.migrating])
                try await newLeader.finishMigration(m.id, outcome: .rolledBack, vmHost: "a", vmState: .running, error: "test")
                #expect(try await oldLeader.vm(named: "v").state == .running)
            }
        }
    }
}
