import Foundation
package import Logging
import DurationUnits

/// Starts and moves VMs, recording every step in the inventory before taking the next.
///
/// This is the ungated mover: it checks nothing about the target's integrity. The RC-TCB
/// puts its attestation gate between `migrate(... resume: false)` and `resumeMigration`.
package struct MigrationOrchestrator: Sendable {
    package let inventory: any VMInventoryStore
    /// The driver per host kind, used only through ``MigrationDriver`` (tests can give an in-process driver).
    package let qemu: any MigrationDriver
    package let xen: any MigrationDriver
    /// Orders to the hosts' agents (``MigrationHost/Kind/agent``); nil where this orchestrator sends none (the CLI's).
    package let agent: (any MigrationDriver)?
    package let logger: Logger
    /// How long one transfer may run before it is cancelled (`transfer-time-limit`); nil: as long as it takes.
    package let transferTimeLimit: Duration?

    package init(inventory: any VMInventoryStore, qemu: any MigrationDriver = QEMUDriver(), xen: any MigrationDriver = XenXLDriver(),
                agent: (any MigrationDriver)? = nil, transferTimeLimit: Duration? = nil, logger: Logger = Logger(label: "smig.migration")) {
        self.inventory = inventory
        self.qemu = qemu
        self.xen = xen
        self.agent = agent
        self.transferTimeLimit = transferTimeLimit
        self.logger = logger
    }

    /// The driver of `host`'s kind. An agent host without an agent driver gets the QEMU driver, which finds no VM
    /// there: ``migrate(vm:to:resume:progress:afterStep:)`` and ``startVM(_:on:)`` refuse such a host first.
    package func driver(for host: MigrationHost) -> any MigrationDriver {
        switch host.kind {
        case .qemu: qemu
        case .xen: xen
        case .agent: agent ?? qemu
        }
    }

    /// Throws when `host`'s VMs move by agent orders and this orchestrator sends none.
    func requireDriver(_ host: MigrationHost) throws {
        if host.kind == .agent, agent == nil {
            throw MigrationError(.invalidArgument, "\(host.name)'s VMs are moved by its agent on the RC-TCB's orders, not from here")
        }
    }

    // MARK: - Start / stop

    /// Records `vm` on `hostName`, starts it, and marks it running. Nothing is left running
    /// (and nothing recorded) if any part fails.
    @discardableResult
    package func startVM(_ vm: VMDescription, on hostName: String) async throws -> VMInstance {
        try vm.validate()
        let host = try await inventory.host(named: hostName)
        try requireDriver(host)
        try await inventory.addVM(vm, host: host.name, state: .stopped)
        do {
            let instance = try await driver(for: host).start(vm, on: host)
            try await inventory.setVM(vm.name, host: host.name, state: .running, why: "started")
            return instance
        } catch {
            // A copy that was already there is not ours to stop.
            if (error as? MigrationError)?.code != .alreadyExists {
                try? await driver(for: host).stop(driver(for: host).instance(of: vm.name, on: host, port: nil))
            }
            try? await inventory.removeVM(vm.name)
            throw error
        }
    }

    /// Stops `name` wherever it runs and removes it from the inventory.
    package func stopVM(_ name: String) async throws {
        let record = try await inventory.vm(named: name)
        guard record.state != .migrating else {
            throw MigrationError(.wrongState, "VM \(name) has an open migration (hint: `smig-attest vms --recover` finishes or rolls it back)")
        }
        let host = try await inventory.host(named: record.host)
        let d = driver(for: host)
        try await d.stop(d.instance(of: name, on: host, port: nil))
        try await inventory.removeVM(name)
    }

    // MARK: - Migrate

    /// Moves `vmName` to `targetName`. With `resume: false` it stops after `transferred`
    /// (target paused, source paused); call `resumeMigration` to finish.
    /// `afterStep` runs after each step is committed (tests use it to crash there).
    package func migrate(
        vm vmName: String, to targetName: String, resume: Bool = true,
        progress: @Sendable (MigrationProgress) -> Void = { _ in },
        afterStep: @Sendable (MigrationStep) -> Void = { _ in }
    ) async throws -> MigrationReport {
        let (vm, source, target, d, sourceInstance, wasPaused) = try await checkedStart(vm: vmName, to: targetName)
        let port = try await freePort(on: target)
        let clock = ContinuousClock()
        let started = clock.now

        let plan = try await inventory.beginMigration(vm: vmName, source: source.name, target: target.name, port: port)
        afterStep(.planned)

        let targetInstance: VMInstance
        do {
            targetInstance = try await d.prepareTarget(vm, on: target, port: port)
        } catch {
            await rollBack(plan, d, source: sourceInstance, target: d.instance(of: vmName, on: target, port: port), error: error, keepPaused: wasPaused)
            throw error
        }
        try await inventory.record(.targetPrepared, migration: plan.id, detail: "port \(port)")
        afterStep(.targetPrepared)

        var last = MigrationProgress(status: "none")
        var transferStarted = false
        let transferStart = clock.now
        do {
            for try await p in Self.limited(d.migrate(vm, from: sourceInstance, to: targetInstance), to: transferTimeLimit, vm: vmName) {
                if !transferStarted {
                    transferStarted = true
                    try await inventory.record(.transferStarted, migration: plan.id, detail: "")
                    afterStep(.transferStarted)
                }
                last = p
                progress(p)
            }
        } catch {
            await rollBack(plan, d, source: sourceInstance, target: targetInstance, error: error, keepPaused: wasPaused)
            throw error
        }
        let transferDone = clock.now
        try await inventory.record(.transferred, migration: plan.id,
                                   detail: "total \(last.totalTimeMs.map(String.init) ?? "?") ms, downtime \(last.downtimeMs.map(String.init) ?? "?") ms")
        afterStep(.transferred)

        var report = MigrationReport(
            vm: vmName, source: source.name, target: target.name, port: port, migration: plan.id,
            resumed: false, final: last,
            measuredTransferMs: (transferDone - transferStart).inMilliseconds, measuredResumeMs: nil,
            measuredTotalMs: (transferDone - started).inMilliseconds)
        guard resume else { return report }
        let resumed = try await finish(plan, d, source: sourceInstance, target: targetInstance, afterStep: afterStep)
        report.resumed = true
        report.measuredToResumeMs = (resumed.instant - started).inMilliseconds
        report.measuredResumeMs = resumed.resumeMs
        if let paused = last.sourcePausedAt, let at = resumed.resumedAt, at >= paused {
            report.guestPauseMs = (at - paused) * 1000
        }
        report.measuredTotalMs = (clock.now - started).inMilliseconds
        return report
    }

    /// What a move starts from, checked before anything is recorded or launched: both hosts (of one kind, with a
    /// driver), the source's driver and instance, and whether the VM is held paused (no trusted target earlier: it
    /// moves as it is and stays paused if the move fails). A description that does not match what runs stops it here.
    ///
    /// A VM recorded paused that runs on its source moves as it runs, and its record says so first (an inventory
    /// event): the record is stale. A VM manager reports a VM it is starting as paused, so a VM adopted from an agent's
    /// report at that moment was recorded paused; and a VM the region held paused on an untrusted host that runs again
    /// there (resumed outside smig-attest, or by the untrusted hypervisor) is what a move must take away, not a reason
    /// to leave it there. A VM recorded running that is paused is still refused (`wrong-state`).
    func checkedStart(vm vmName: String, to targetName: String) async throws
        -> (vm: VMDescription, source: MigrationHost, target: MigrationHost, driver: any MigrationDriver, sourceInstance: VMInstance, wasPaused: Bool) {
        let record = try await inventory.vm(named: vmName)
        let target = try await inventory.host(named: targetName)
        let source = try await inventory.host(named: record.host)
        guard source.name != target.name else {
            throw MigrationError(.invalidArgument, "VM \(vmName) already runs on \(targetName)")
        }
        guard source.kind == target.kind else {
            throw MigrationError(.invalidArgument, "cannot migrate between a \(source.kind) host and a \(target.kind) host")
        }
        try requireDriver(source)
        var wasPaused = record.state == .paused
        guard record.state == .running || wasPaused else {
            throw MigrationError(.wrongState, side: .source, "VM \(vmName) is \(record.state), not running")
        }
        let d = driver(for: source)
        let sourceInstance = d.instance(of: vmName, on: source, port: nil)
        let sourceState = await d.state(of: sourceInstance)
        let staleRecord = wasPaused && sourceState == .running
        guard staleRecord || sourceState == (wasPaused ? .paused : .running) else {
            throw MigrationError(.wrongState, side: .source, "VM \(vmName) on \(source.name) is \(sourceState), not \(wasPaused ? "paused" : "running")")
        }
        try await d.verifyDescription(record.description, running: sourceInstance, side: .source)
        if staleRecord {
            try await inventory.setVM(vmName, host: source.name, state: .running,
                                      why: "recorded paused, found running on \(source.name) before a move: it moves as it runs")
            wasPaused = false
        }
        return (record.description, source, target, d, sourceInstance, wasPaused)
    }

    /// Finishes a migration left at `transferred` (target paused): resume target, stop source.
    package func resumeMigration(vm vmName: String, afterStep: @Sendable (MigrationStep) -> Void = { _ in }) async throws {
        guard let plan = try await inventory.openMigrations().first(where: { $0.vm == vmName }) else {
            throw MigrationError(.wrongState, "VM \(vmName) has no migration in progress")
        }
        guard plan.step == .transferred else {
            throw MigrationError(.wrongState, "migration of \(vmName) is at step \(plan.step.rawValue), not transferred")
        }
        let source = try await inventory.host(named: plan.source)
        let target = try await inventory.host(named: plan.target)
        let d = driver(for: source)
        _ = try await finish(plan, d, source: d.instance(of: vmName, on: source, port: nil),
                         target: d.instance(of: vmName, on: target, port: plan.port), afterStep: afterStep)
    }

    private func finish(_ plan: MigrationRecord, _ d: any MigrationDriver, source: VMInstance, target: VMInstance, afterStep: @Sendable (MigrationStep) -> Void) async throws -> (resumeMs: Double, resumedAt: Double?, instant: ContinuousClock.Instant) {
        let clock = ContinuousClock()
        let resumeStart = clock.now
        let resumedAt: Double?
        do {
            resumedAt = try await d.resume(target)
        } catch {
            await rollBack(plan, d, source: source, target: target, error: error)
            throw error
        }
        let resumedInstant = clock.now
        let resumeMs = (resumedInstant - resumeStart).inMilliseconds
        try await inventory.record(.targetResumed, migration: plan.id, detail: "")
        afterStep(.targetResumed)
        try await d.stop(source)
        try await inventory.record(.sourceStopped, migration: plan.id, detail: "")
        afterStep(.sourceStopped)
        try await inventory.finishMigration(plan.id, outcome: .completed, vmHost: target.host, vmState: .running, error: nil)
        afterStep(.completed)
        logger.info("migration completed", metadata: ["migration.vm": "\(plan.vm)", "migration.target": "\(target.host)"])
        return (resumeMs, resumedAt, resumedInstant)
    }

    /// Undo after a failure before the target ran: target gone, source running (or paused again if it was
    /// held paused), row closed.
    private func rollBack(_ plan: MigrationRecord, _ d: any MigrationDriver, source: VMInstance, target: VMInstance, error: any Error, keepPaused: Bool = false) async {
        logger.warning("migration failed, rolling back", metadata: ["migration.vm": "\(plan.vm)", "migration.error": "\(error)"])
        try? await d.cancel(from: source)
        try? await d.stop(target)
        if keepPaused { try? await d.pause(source) }
        let sourceState = await d.state(of: source)
        // A source that does not answer (its agent silent, its QMP socket slow) is not lost, and what it did is unknown:
        // the migration stays open, the VM recorded as migrating, until recovery can see both copies.
        if case .unresponsive = sourceState {
            logger.error("the source did not answer; the migration stays open for recovery",
                         metadata: ["migration.vm": "\(plan.vm)", "migration.source": "\(source.host)", "migration.state": "\(sourceState)"])
            return
        }
        var vmHost = source.host
        var vmState: VMRecord.State = switch sourceState {
        case .running: .running
        case .paused where keepPaused: .paused
        default: .lost
        }
        // A VM manager that hands the VM over whole (libvirt: the source is gone once the transfer ended) keeps the only
        // copy on the target, paused, and its driver refuses to stop it: it is held there, never run, never lost.
        if vmState == .lost, !sourceState.hasProcess, await d.state(of: target) == .paused {
            vmHost = target.host
            vmState = .paused
        }
        try? await inventory.finishMigration(plan.id, outcome: .rolledBack, vmHost: vmHost, vmState: vmState, error: "\(error)")
    }

    /// Gives up a migration that reached `transferred` (target paused with the state, source paused): the
    /// target is stopped and the source runs again. The attestation gate calls this when the target fails its
    /// re-attestation, so the copy on the target never runs.
    package func abandonMigration(vm vmName: String, reason: String) async throws {
        guard let plan = try await inventory.openMigrations().first(where: { $0.vm == vmName }) else {
            throw MigrationError(.wrongState, "VM \(vmName) has no migration in progress")
        }
        let source = try await inventory.host(named: plan.source)
        let target = try await inventory.host(named: plan.target)
        let d = driver(for: source)
        await rollBack(plan, d, source: d.instance(of: vmName, on: source, port: nil), target: d.instance(of: vmName, on: target, port: plan.port),
                       error: MigrationError(.cancelled, side: .orchestrator, reason))
    }

    /// Holds a running VM paused where it is (its record says `paused`).
    package func pauseVM(_ name: String, why: String) async throws {
        let record = try await inventory.vm(named: name)
        let host = try await inventory.host(named: record.host)
        let d = driver(for: host)
        try await d.pause(d.instance(of: name, on: host, port: nil))
        try await inventory.setVM(name, host: host.name, state: .paused, why: why)
    }

    /// Lets a VM held paused where it is run again (its record says `running`).
    package func resumeVM(_ name: String, why: String) async throws {
        let record = try await inventory.vm(named: name)
        guard record.state == .paused else {
            throw MigrationError(.wrongState, "VM \(name) is \(record.state.rawValue), not paused")
        }
        let host = try await inventory.host(named: record.host)
        let d = driver(for: host)
        _ = try await d.resume(d.instance(of: name, on: host, port: nil))
        try await inventory.setVM(name, host: host.name, state: .running, why: why)
    }

    /// A port of `host`'s range that no open migration reserved and nothing listens on.
    func freePort(on host: MigrationHost) async throws -> Int {
        let reserved = try await inventory.reservedPorts(host: host.name)
        for port in host.ports where !reserved.contains(port) {
            // An agent host's range is a count of moves into it, not ports of this machine.
            if host.kind == .agent || !ProcessSupport.portInUse(address: host.address, port: port) { return port }
        }
        throw MigrationError(.noFreePort, side: .target, "no free port in \(host.portLow)-\(host.portHigh) on \(host.name)")
    }
}

/// What one migration did, with the hypervisor's figures next to ours.
package struct MigrationReport: Codable, Sendable {
    package var vm: String
    package var source: String
    package var target: String
    package var port: Int
    package var migration: Int64
    package var resumed: Bool
    /// Last progress record (QEMU's own total-time and downtime when completed).
    package var final: MigrationProgress
    /// From `migrate` issued to completion observed.
    package var measuredTransferMs: Double
    /// `cont` on the target until it reports running.
    package var measuredResumeMs: Double?
    /// Guest-visible pause: source STOP event to target RESUME event (hypervisor timestamps,
    /// same host clock on loopback). Includes our polling and resume latency.
    package var guestPauseMs: Double?
    /// From the start of the call to its end.
    package var measuredTotalMs: Double
    /// From the start of the call to the target running (before the source is stopped).
    package var measuredToResumeMs: Double?
}
