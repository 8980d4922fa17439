import Foundation
package import RegionProtocol
import StateFiles

/// The agent's migration orders: each taken once by its id, journaled before it is acted on, and carried out with the
/// host's VM manager.
///
/// The journal is one small file per order, `STATE/orders/ORDER-ID.json` (0600, written atomically: a new file, fsync,
/// rename), holding the order and what came of it. It is read back when the agent starts, so a restarted agent answers
/// for the orders it took before; an order it was carrying out when it stopped is answered `interrupted`, with what the
/// VM manager says of the VM now, and never started again. The same id again is answered from the record; the same id
/// with other content is refused (`order.conflict`).
package actor OrderBook {
    package let hostId: String
    package let directory: String
    let manager: (any HostVMManager)?
    var records: [String: MigrationOrderStatus] = [:]
    /// Migrations running in the background, by order id.
    var running: [String: Task<Void, Never>] = [:]

    /// Largest journal file read back.
    static let recordLimit = 1 << 20

    /// Opens (creating) `STATE/orders` and reads the orders recorded there; an order left `running` by an agent that
    /// stopped is recorded `interrupted`. An unreadable record is `order.journal` naming the file.
    package init(hostId: String, stateDirectory: String, manager: (any HostVMManager)?) async throws(MigrationOrderError) {
        self.hostId = hostId
        self.manager = manager
        directory = "\(stateDirectory)/orders"
        do { try StateFiles.checkDirectory(directory, create: true) } catch {
            throw MigrationOrderError(.journal, "cannot use the order journal: \(error)")
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".json") }
        var interrupted: [MigrationOrderStatus] = []
        for name in names {
            let path = "\(directory)/\(name)"
            let record: MigrationOrderStatus
            do {
                record = try RegionJSON.decode(MigrationOrderStatus.self, from: Data(try StateFiles.read(path, limit: Self.recordLimit)))
            } catch {
                throw MigrationOrderError(.journal, "\(path) is not an order record: \(error) (hint: move it away to let the agent start)")
            }
            guard "\(record.order.orderId).json" == name else {
                throw MigrationOrderError(.journal, "\(path) holds order \(record.order.orderId) (hint: move it away to let the agent start)")
            }
            records[record.order.orderId] = record
            if record.state == .running { interrupted.append(record) }
        }
        for var record in interrupted {
            record.state = .interrupted
            record.updatedAt = Date()
            record.vmState = await vmState(record.order.vm)
            record.error = RegionErrorBody(code: "order.interrupted", message: "the agent stopped while it carried out this order")
            records[record.order.orderId] = record
            try journal(record)
        }
    }

    /// What was recorded for order `id`.
    package func status(_ id: String) -> MigrationOrderStatus? { records[id] }

    /// Takes `order`: answers from the record when its id was taken before; else journals it, then carries it out —
    /// a migration in the background (answered `running`; its progress is in ``status(_:)``), any other step before
    /// answering.
    package func take(_ order: MigrationOrder) async throws(MigrationOrderError) -> MigrationOrderStatus {
        guard order.host == hostId else {
            throw MigrationOrderError(.wrongHost, "order \(order.orderId) is for \(order.host); this is \(hostId)")
        }
        if let known = records[order.orderId] {
            guard known.order == order else {
                throw MigrationOrderError(.conflict, "order \(order.orderId) was taken before with other content (hint: a new order needs a new id)")
            }
            return known
        }
        guard let manager else {
            throw MigrationOrderError(.noVMManager, "this agent has no VM manager (hint: set vmManager and vmManagerURI in agent.json)")
        }
        let now = Date()
        let record = MigrationOrderStatus(order: order, state: .running, acceptedAt: now, updatedAt: now)
        try journal(record)
        records[order.orderId] = record
        if order.step == .migrate {
            running[order.orderId] = Task { await self.carryOut(order, manager) }
            return record
        }
        await carryOut(order, manager)
        return records[order.orderId] ?? record
    }

    /// Carries out one order and records how it ended.
    func carryOut(_ order: MigrationOrder, _ manager: any HostVMManager) async {
        var address: String?
        var progress: MigrationOrderStatus.Progress?
        var failure: RegionErrorBody?
        do {
            switch order.step {
            case .prepare: address = try await manager.prepareIncoming(order.vm, machine: order.machine)
            case .migrate:
                guard let target = order.target else { throw MigrationOrderError(.malformed, "a migrate order names its target") }
                let id = order.orderId
                progress = try await manager.migrate(order.vm, to: target.migrationAddress, tuning: order.tuning) { p in
                    Task { await self.update(id, progress: p) }
                }
            case .resume: try await manager.resume(order.vm)
            case .pause: try await manager.pause(order.vm)
            case .cancel: try await manager.cancel(order.vm)
            case .stop: try await manager.stop(order.vm)
            }
        } catch let error as MigrationOrderError {
            failure = error.body
        } catch {
            failure = RegionErrorBody(code: MigrationOrderError.Code.failed.rawValue, message: "\(order.step.rawValue) \(order.vm): \(error)")
        }
        guard var record = records[order.orderId] else { return }
        record.state = failure == nil ? .done : .failed
        record.error = failure
        record.migrationAddress = address
        if let progress { record.progress = progress }
        record.updatedAt = Date()
        record.vmState = await vmState(order.vm)
        records[order.orderId] = record
        running[order.orderId] = nil
        // A record that cannot be written stays in memory: the RC-TCB still learns the outcome from this process.
        try? journal(record)
    }

    /// A running migration's latest progress (kept in memory; the journal holds how the order ended).
    func update(_ id: String, progress: MigrationOrderStatus.Progress) {
        guard var record = records[id], record.state == .running else { return }
        record.progress = progress
        record.updatedAt = Date()
        records[id] = record
    }

    /// The VM's state as the VM manager says now (nil: it has no such VM, or did not answer).
    func vmState(_ vm: String) async -> String? {
        guard let manager, let vms = try? await manager.vms() else { return nil }
        return vms.first { $0.name == vm }?.state ?? "absent"
    }

    func journal(_ record: MigrationOrderStatus) throws(MigrationOrderError) {
        let path = "\(directory)/\(record.order.orderId).json"
        do { try StateFiles.writeAtomically(path, Array(RegionJSON.encode(record))) } catch {
            throw MigrationOrderError(.journal, "cannot journal order \(record.order.orderId): \(error)")
        }
    }

    /// Waits for the migrations running in the background (tests, shutdown).
    package func settle() async {
        for task in running.values { await task.value }
    }
}
