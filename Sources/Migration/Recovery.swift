/// Brings every VM in the inventory back to exactly one running copy after a crash.
///
/// It trusts observation over the record: for an open migration it asks both sides what
/// they are doing. A target that already runs wins (the source is stopped); otherwise the
/// source wins (the transfer is cancelled, the target stopped, the source resumed).
package struct Recovery: Sendable {
    package struct Action: Codable, Sendable, Hashable {
        package var vm: String
        package var host: String
        /// `verified`, `rolled-back`, `forwarded`, `resumed`, `held` (left paused: the gate refused its host),
        /// `stray-stopped`, `lost`, `marked-running`, or `slow`
        /// (the process lives but its control channel did not answer in time: nothing is changed, run again).
        package var action: String
        package var detail: String

        package init(vm: String, host: String, action: String, detail: String) {
            self.vm = vm
            self.host = host
            self.action = action
            self.detail = detail
        }
    }

    package let orchestrator: MigrationOrchestrator
    /// May a VM copy on this host run? The RC-TCB answers with a fresh attestation of the host; a copy that may
    /// not run is left paused (`held`) instead of resumed. Without a gate every host may.
    package let mayRun: @Sendable (String) async -> Bool

    package init(orchestrator: MigrationOrchestrator, mayRun: @escaping @Sendable (String) async -> Bool = { _ in true }) {
        self.orchestrator = orchestrator
        self.mayRun = mayRun
    }

    package func run() async throws -> [Action] {
        let inventory = orchestrator.inventory
        var actions: [Action] = []
        let hosts = try await inventory.hosts()
        for plan in try await inventory.openMigrations() {
            do {
                actions.append(try await recover(plan))
            } catch {
                // Keep going for the other VMs; the row stays open for another attempt.
                actions.append(Action(vm: plan.vm, host: plan.source, action: "failed", detail: "\(error)"))
            }
        }
        for record in try await inventory.vms()
        where !actions.contains(where: { $0.vm == record.name && ($0.action == "failed" || $0.action == "slow") }) {
            do {
                actions += try await check(record, hosts: hosts, already: actions)
            } catch {
                actions.append(Action(vm: record.name, host: record.host, action: "failed", detail: "\(error)"))
            }
        }
        return actions
    }

    /// True if every VM ended with one running copy known (no `failed`, `lost` or `slow` action).
    package static func succeeded(_ actions: [Action]) -> Bool {
        !actions.contains { ["failed", "lost", "slow"].contains($0.action) }
    }

    private func check(_ record: VMRecord, hosts: [MigrationHost], already: [Action]) async throws -> [Action] {
        let inventory = orchestrator.inventory
        var actions: [Action] = []
        let host = try await inventory.host(named: record.host)
        let d = orchestrator.driver(for: host)
        let home = d.instance(of: record.name, on: host, port: nil)
        // Any copy on another host of the same kind is a leftover: stop it.
        for other in hosts where other.name != host.name && other.kind == host.kind {
            let stray = d.instance(of: record.name, on: other, port: nil)
            if await d.state(of: stray).hasProcess {
                try await d.stop(stray)
                actions.append(Action(vm: record.name, host: other.name, action: "stray-stopped", detail: "copy not in the inventory"))
            }
        }
        let state = await d.state(of: home)
        switch state {
        case .running:
            if record.state != .running {
                try await inventory.setVM(record.name, host: host.name, state: .running, why: "recovery: found running")
                actions.append(Action(vm: record.name, host: host.name, action: "marked-running", detail: "was \(record.state)"))
            } else if !(already + actions).contains(where: { $0.vm == record.name }) {
                actions.append(Action(vm: record.name, host: host.name, action: "verified", detail: "running"))
            }
        case .paused where record.state == .paused:
            actions.append(Action(vm: record.name, host: host.name, action: "held", detail: "paused on purpose"))
        case .paused, .postMigrate:
            guard await mayRun(host.name) else {
                try await inventory.setVM(record.name, host: host.name, state: .paused, why: "recovery: \(host.name) may not run it")
                actions.append(Action(vm: record.name, host: host.name, action: "held", detail: "was \(state); \(host.name) is not attested"))
                break
            }
            try await d.resume(home)
            try await inventory.setVM(record.name, host: host.name, state: .running, why: "recovery: resumed")
            actions.append(Action(vm: record.name, host: host.name, action: "resumed", detail: "was \(state)"))
        case .absent:
            if record.state != .stopped {
                try await inventory.setVM(record.name, host: host.name, state: .lost, why: "recovery: no process")
                actions.append(Action(vm: record.name, host: host.name, action: "lost", detail: "no process on \(host.name)"))
            }
        case let .unresponsive(why):
            // A live process whose QMP socket timed out is slow (loaded host, stopped process), not lost: the
            // record stays as it is so that a later run can tell.
            actions.append(Action(vm: record.name, host: host.name, action: "slow",
                                  detail: "process alive, control channel did not answer: \(why)"))
        default:
            actions.append(Action(vm: record.name, host: host.name, action: "lost", detail: "process is \(state)"))
            try await inventory.setVM(record.name, host: host.name, state: .lost, why: "recovery: \(state)")
        }
        return actions
    }

    private func recover(_ plan: MigrationRecord) async throws -> Action {
        let inventory = orchestrator.inventory
        let source = try await inventory.host(named: plan.source)
        let target = try await inventory.host(named: plan.target)
        let d = orchestrator.driver(for: source)
        let src = d.instance(of: plan.vm, on: source, port: nil)
        let tgt = d.instance(of: plan.vm, on: target, port: plan.port)
        // A transfer that an agent still carries out is followed to its end (asked for by its order id, never ordered
        // again) before either copy is judged.
        await d.awaitOrderedTransfer(of: plan.vm, from: src)
        let targetState = await d.state(of: tgt)
        let sourceState = await d.state(of: src)
        let seen = "step \(plan.step.rawValue); source \(sourceState), target \(targetState)"
        // Either copy alive but not answering: deciding now could stop the only good copy. Leave the migration
        // open and say so.
        if case .unresponsive = sourceState {
            return Action(vm: plan.vm, host: source.name, action: "slow", detail: seen)
        }
        if case .unresponsive = targetState, sourceState == .absent {
            return Action(vm: plan.vm, host: target.name, action: "slow", detail: seen)
        }

        if targetState == .running {
            try await d.stop(src)
            try await inventory.finishMigration(plan.id, outcome: .recoveredForward, vmHost: target.name, vmState: .running, error: "recovered: \(seen)")
            return Action(vm: plan.vm, host: target.name, action: "forwarded", detail: seen)
        }
        // The transfer completed (the source is postmigrate, the target holds the state, paused): the target
        // takes over if it may run the VM.
        if sourceState == .postMigrate, targetState == .paused, await mayRun(target.name) {
            try await d.resume(tgt)
            try await d.stop(src)
            try await inventory.finishMigration(plan.id, outcome: .recoveredForward, vmHost: target.name, vmState: .running, error: "recovered: \(seen)")
            return Action(vm: plan.vm, host: target.name, action: "forwarded", detail: seen)
        }
        switch sourceState {
        case .running, .paused, .postMigrate, .other:
            try? await d.cancel(from: src)
            try await d.stop(tgt)
            if await mayRun(source.name) {
                let now = await d.state(of: src)
                if now != .running { try await d.resume(src) }
                try await inventory.finishMigration(plan.id, outcome: .rolledBack, vmHost: source.name, vmState: .running, error: "recovered: \(seen)")
                return Action(vm: plan.vm, host: source.name, action: "rolled-back", detail: seen)
            }
            // A postmigrate source cannot be migrated again: run it for a moment and pause it plainly.
            if await d.state(of: src) == .postMigrate { try await d.resume(src) }
            if await d.state(of: src) == .running { try await d.pause(src) }
            try await inventory.finishMigration(plan.id, outcome: .rolledBack, vmHost: source.name, vmState: .paused, error: "recovered (held): \(seen)")
            return Action(vm: plan.vm, host: source.name, action: "held", detail: "\(seen); \(source.name) is not attested")
        case .absent, .unresponsive, .incoming:
            // Source gone. A target holding the complete state (paused, not inmigrate) can take over.
            if targetState == .paused || targetState == .postMigrate {
                guard await mayRun(target.name) else {
                    try await inventory.finishMigration(plan.id, outcome: .recoveredForward, vmHost: target.name, vmState: .paused, error: "recovered (held): \(seen)")
                    return Action(vm: plan.vm, host: target.name, action: "held", detail: "\(seen); \(target.name) is not attested")
                }
                try await d.resume(tgt)
                try await d.stop(src)
                try await inventory.finishMigration(plan.id, outcome: .recoveredForward, vmHost: target.name, vmState: .running, error: "recovered: \(seen)")
                return Action(vm: plan.vm, host: target.name, action: "forwarded", detail: seen)
            }
            try? await d.stop(tgt)
            try? await d.stop(src)
            try await inventory.finishMigration(plan.id, outcome: .lost, vmHost: source.name, vmState: .lost, error: "recovered: \(seen)")
            return Action(vm: plan.vm, host: source.name, action: "lost", detail: seen)
        }
    }
}
