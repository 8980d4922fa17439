import Foundation
import Migration
import Synchronization
import Testing

/// TEST DOUBLE — a hypervisor kept in memory: VM copies per host with a run state, a transfer that completes at
/// once (or fails, or never ends until its consumer stops, when told). It lets the orchestrator's bookkeeping be tested without QEMU; the live QEMU tests
/// cover the real driver. The orchestrator reaches it only through ``MigrationDriver``.
final class InProcessDriver: MigrationDriver {
    let copies = Mutex<[String: VMRunState]>([:])   // "vm@host" → state
    let failTransfer: Bool
    let stallTransfer: Bool
    let descriptionMatches: Bool

    init(failTransfer: Bool = false, stallTransfer: Bool = false, descriptionMatches: Bool = true) {
        self.failTransfer = failTransfer
        self.stallTransfer = stallTransfer
        self.descriptionMatches = descriptionMatches
    }

    func key(_ i: VMInstance) -> String { "\(i.vm)@\(i.host)" }
    func set(_ i: VMInstance, _ s: VMRunState) { copies.withLock { $0[key(i)] = s } }

    /// Not used by the orchestrator's moves (recovery lists VMs; it is covered against real QEMU).
    func listVMs(on host: MigrationHost) async throws -> [VMListing] { [] }
    func start(_ vm: VMDescription, on host: MigrationHost) async throws -> VMInstance {
        let i = instance(of: vm.name, on: host, port: nil)
        set(i, .running)
        return i
    }
    func prepareTarget(_ vm: VMDescription, on target: MigrationHost, port: Int) async throws -> VMInstance {
        let i = instance(of: vm.name, on: target, port: port)
        set(i, .incoming)
        return i
    }
    func migrate(_ vm: VMDescription, from source: VMInstance, to target: VMInstance) -> AsyncThrowingStream<MigrationProgress, any Error> {
        AsyncThrowingStream { c in
            if failTransfer {
                c.finish(throwing: MigrationError(.migrationFailed, side: .target, "the in-process transfer was told to fail"))
                return
            }
            if stallTransfer {
                // A guest that dirties memory faster than the link sends it: always 1 byte to go, never done.
                c.yield(MigrationProgress(status: "active", transferredBytes: 1, remainingBytes: 1, totalBytes: 2))
                return
            }
            set(source, .postMigrate)
            set(target, .paused)
            c.yield(MigrationProgress(status: "completed", transferredBytes: 1, remainingBytes: 0, totalBytes: 1))
            c.finish()
        }
    }
    func resume(_ instance: VMInstance) async throws -> Double? { set(instance, .running); return nil }
    func cancel(from source: VMInstance) async throws { set(source, .running) }
    func pause(_ instance: VMInstance) async throws { set(instance, .paused) }
    func state(of instance: VMInstance) async -> VMRunState { copies.withLock { $0[key(instance)] } ?? .absent }
    func stop(_ instance: VMInstance) async throws { _ = copies.withLock { $0.removeValue(forKey: key(instance)) } }
    func instance(of vm: String, on host: MigrationHost, port: Int?) -> VMInstance {
        VMInstance(vm: vm, host: host.name, controlPath: "mem:\(vm)@\(host.name)", pidFile: "", logFile: "", port: port, address: host.address)
    }
    func verifyDescription(_ vm: VMDescription, running instance: VMInstance, side: MigrationError.Side) async throws {
        guard descriptionMatches else { throw MigrationError(.descriptionMismatch, side: side, "the in-process VM is not \(vm.name) as described") }
    }
}

@Suite("Orchestrator with an in-process driver (test double)")
struct InProcessDriverTests {
    func world(_ driver: InProcessDriver) throws -> (MigrationOrchestrator, VMInventory, String) {
        let dir = "/tmp/smo-\(UUID().uuidString.prefix(8))"
        let inventory = try VMInventory(stateDirectory: dir)
        try inventory.addHost(MigrationHost(name: "a", address: "127.0.0.1", portLow: 30500, portHigh: 30509, stateDirectory: "\(dir)/a"))
        try inventory.addHost(MigrationHost(name: "b", address: "127.0.0.1", portLow: 30510, portHigh: 30519, stateDirectory: "\(dir)/b"))
        return (MigrationOrchestrator(inventory: inventory, qemu: driver), inventory, dir)
    }

    @Test func aMoveRecordsEveryStepAndLeavesOneRunningCopy() async throws {
        let driver = InProcessDriver()
        let (o, inventory, dir) = try world(driver)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await o.startVM(VMDescription(name: "vm", memoryMiB: 16, bootImage: "/dev/null"), on: "a")
        let steps = Mutex<[MigrationStep]>([])
        _ = try await o.migrate(vm: "vm", to: "b", afterStep: { s in steps.withLock { $0.append(s) } })
        #expect(try inventory.vm(named: "vm").host == "b" && inventory.vm(named: "vm").state == .running)
        #expect(driver.copies.withLock { $0 } == ["vm@b": .running])
        #expect(steps.withLock { $0 }.first == .planned)
        #expect(try inventory.openMigrations().isEmpty)
    }

    /// A VM recorded paused that runs on its source (a stale record: adopted from a VM manager's report while it was
    /// starting the VM) moves as it runs: its record is set right first, with an inventory event, and the move ends
    /// with one running copy on the target. A VM recorded running that is paused is still refused.
    @Test func aVMRecordedPausedThatRunsMovesAsItRuns() async throws {
        let driver = InProcessDriver()
        let (o, inventory, dir) = try world(driver)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await o.startVM(VMDescription(name: "vm", memoryMiB: 16, bootImage: "/dev/null"), on: "a")
        try inventory.setVM("vm", host: "a", state: .paused, why: "adopted while its VM manager was starting it")
        _ = try await o.migrate(vm: "vm", to: "b")
        #expect(try inventory.vm(named: "vm").host == "b" && inventory.vm(named: "vm").state == .running)
        #expect(driver.copies.withLock { $0 } == ["vm@b": .running])
        let events = try inventory.events(vm: "vm")
        #expect(events.contains { $0.what == "vm-running" && $0.detail.contains("recorded paused, found running on a before a move") },
                "\(events)")

        _ = try await o.startVM(VMDescription(name: "held", memoryMiB: 16, bootImage: "/dev/null"), on: "a")
        driver.set(driver.instance(of: "held", on: try inventory.host(named: "a"), port: nil), .paused)
        let refused = await #expect(throws: MigrationError.self) { try await o.migrate(vm: "held", to: "b") }
        #expect(refused?.code == .wrongState && refused?.side == .source, "\(String(describing: refused))")
        #expect(try inventory.vm(named: "held").host == "a" && inventory.vm(named: "held").state == .running)
        #expect(try inventory.openMigrations().isEmpty)
    }

    /// A stale paused record is set right only once the move may start: a source that is not the VM described keeps
    /// the record as it was.
    @Test func aStalePausedRecordStaysWhenTheDescriptionDoesNotMatch() async throws {
        let driver = InProcessDriver(descriptionMatches: false)
        let (o, inventory, dir) = try world(driver)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await o.startVM(VMDescription(name: "vm", memoryMiB: 16, bootImage: "/dev/null"), on: "a")
        try inventory.setVM("vm", host: "a", state: .paused, why: "adopted while its VM manager was starting it")
        let error = await #expect(throws: MigrationError.self) { try await o.migrate(vm: "vm", to: "b") }
        #expect(error?.code == .descriptionMismatch)
        #expect(try inventory.vm(named: "vm").state == .paused)
        #expect(try !inventory.events(vm: "vm").contains { $0.detail.contains("found running") })
    }

    @Test func aDescriptionMismatchStopsTheMoveBeforeAnyRecord() async throws {
        let driver = InProcessDriver(descriptionMatches: false)
        let (o, inventory, dir) = try world(driver)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await o.startVM(VMDescription(name: "vm", memoryMiB: 16, bootImage: "/dev/null"), on: "a")
        let error = await #expect(throws: MigrationError.self) { try await o.migrate(vm: "vm", to: "b") }
        #expect(error?.code == .descriptionMismatch)
        #expect(try inventory.openMigrations().isEmpty)
        #expect(try inventory.vm(named: "vm").host == "a" && inventory.vm(named: "vm").state == .running)
        #expect(driver.copies.withLock { $0 } == ["vm@a": .running])
    }

    @Test func aFailedTransferLeavesTheSourceRunningAndNoTarget() async throws {
        let driver = InProcessDriver(failTransfer: true)
        let (o, inventory, dir) = try world(driver)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try await o.startVM(VMDescription(name: "vm", memoryMiB: 16, bootImage: "/dev/null"), on: "a")
        let error = await #expect(throws: MigrationError.self) { try await o.migrate(vm: "vm", to: "b") }
        #expect(error?.code == .migrationFailed)
        #expect(try inventory.vm(named: "vm").host == "a" && inventory.vm(named: "vm").state == .running)
        #expect(driver.copies.withLock { $0 }["vm@a"] == .running)
        #expect(driver.copies.withLock { $0 }["vm@b"] == nil, "the prepared target was stopped")
    }

    @Test func aTransferThatNeverEndsIsCancelledAtTheTimeLimitAndTheSourceKeepsRunning() async throws {
        let driver = InProcessDriver(stallTransfer: true)
        let (plain, inventory, dir) = try world(driver)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = MigrationOrchestrator(inventory: inventory, qemu: driver, transferTimeLimit: .milliseconds(300))
        _ = try await plain.startVM(VMDescription(name: "vm", memoryMiB: 16, bootImage: "/dev/null"), on: "a")
        let progress = Mutex<[String]>([])
        let error = await #expect(throws: MigrationError.self) {
            _ = try await o.migrate(vm: "vm", to: "b", progress: { p in progress.withLock { $0.append(p.status) } })
        }
        #expect(error?.code == .transferTimeLimit && error?.side == .source, "\(String(describing: error))")
        #expect(error?.reason.contains("migration.transfer-time-limit") == true)
        #expect(progress.withLock { $0 } == ["active"], "the transfer had started: its progress was passed on")
        #expect(try inventory.openMigrations().isEmpty, "the move was rolled back, not left open")
        #expect(try inventory.vm(named: "vm").host == "a" && inventory.vm(named: "vm").state == .running)
        #expect(driver.copies.withLock { $0 } == ["vm@a": .running], "the prepared target was stopped")
    }
}
