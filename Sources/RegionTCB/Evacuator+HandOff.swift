import Foundation
import Logging
import Migration
import Policy
import RegionProtocol
import DurationUnits

extension RegionError.Code {
    /// The executor of `evacuation.executor` exited non-zero, was killed at its time-out, or could not be run.
    package static let executorFailed = Self(rawValue: "evacuation.executor-failed")
    /// The executor ended, but the target's agent does not report the VM.
    package static let executorNotPlaced = Self(rawValue: "evacuation.executor-not-placed")
}

extension Evacuator {
    /// The variables the executor finds in its environment (beside the argv words `VM SOURCE TARGET`).
    package enum ExecutorEnvironment {
        /// The VM's name in the inventory (the name its host's VM manager reports).
        package static let vm = "SMIG_VM"
        /// Region host ids of the host the VM leaves and the host it is to go to.
        package static let source = "SMIG_SOURCE"
        package static let target = "SMIG_TARGET"
        /// The hosts' addresses in the region policy.
        package static let sourceAddress = "SMIG_SOURCE_ADDRESS"
        package static let targetAddress = "SMIG_TARGET_ADDRESS"
        /// The region's name.
        package static let region = "SMIG_REGION"
        /// The code of the verdict that caused the evacuation (`golden.digest-not-allowed`, `host.unreachable`, …).
        package static let cause = "SMIG_CAUSE"
    }

    /// Hands one VM to the fleet's own orchestrator (`evacuation.executor`): the target was challenged just now; the
    /// executor runs as `COMMAND… VM SOURCE TARGET` (no shell) with the ``ExecutorEnvironment`` variables, bounded by
    /// its time-out; its exit status is an audit event (`evacuation.executor`); then the VM is recorded where the
    /// target's agent reports it. There is no attest-before-resume gate: the other manager resumes the VM when it does.
    func handOff(_ vm: String, to target: String, source: String, executor: RegionPolicy.Executor,
                 started: ContinuousClock.Instant) async -> Result<Outcome, RegionError> {
        let fields = EvacuationFields(vm: vm, source: source, target: target)
        // Only a target whose agent reports its VMs can say where the VM went: without one the executor is not run.
        guard let driver = orchestrator.agent as? AgentOrderDriver, driver.agents[target] != nil else {
            await audit(target, .migrationFailed, code: RegionError.Code.executorNotPlaced.rawValue,
                  "\(vm): \(target)'s agent reports no VMs (migrations: agent in the region policy); the executor is not run", fields.ended(.failed))
            return .failure(RegionError(.executorNotPlaced, "\(target)'s agent reports no VMs (migrations: agent in the region policy); \(vm) stays on \(source)"))
        }
        guard await attestNow(target, reason: "before receiving \(vm) from the executor") else {
            let row = try? await store.row(target)
            await audit(target, .targetRefused, code: row?.failureCode ?? "migrate.target-failed-challenge", "\(vm): the challenge before the hand-off failed (\(row?.state.rawValue ?? "?"))",
                  fields.ended(.refused))
            return .failure(RegionError(.migrateChallengeFailed, "\(target) failed the challenge before the hand-off: \(row?.state.rawValue ?? "?") \(row?.failureCode ?? "")"))
        }
        await audit(target, .targetChallenged, code: nil, "\(vm): trusted, fresh quote", fields)
        let address = { (id: String) in self.policy.hosts.first { $0.id == id }?.endpoint.address ?? "" }
        let environment = [
            ExecutorEnvironment.vm: vm, ExecutorEnvironment.source: source, ExecutorEnvironment.target: target,
            ExecutorEnvironment.sourceAddress: address(source), ExecutorEnvironment.targetAddress: address(target),
            ExecutorEnvironment.region: policy.name, ExecutorEnvironment.cause: (try? await records.current(host: source))??.causeCode ?? "",
        ]
        let argv = executor.command + [vm, source, target]
        await audit(target, .executorStarted, code: nil, "\(vm): \(source) → \(target): \(argv.joined(separator: " "))", fields)
        let clock = ContinuousClock()
        let launched = clock.now
        let ran: CommandOutput
        do {
            ran = try await SystemCommandRunner(timeout: executor.timeout).run(argv, environment: environment)
        } catch {
            let timedOut = clock.now - launched >= executor.timeout
            let why = timedOut ? "killed after its time-out of \(executor.timeout)" : "could not run: \(error)"
            await audit(target, .executorFinished, code: RegionError.Code.executorFailed.rawValue, "\(vm): \(why)", fields.ended(.failed))
            return .failure(RegionError(.executorFailed, "the executor for \(vm) \(why)"))
        }
        let said = Self.tail(ran.stderr.isEmpty ? ran.stdout : ran.stderr)
        guard ran.status == 0 else {
            await audit(target, .executorFinished, code: RegionError.Code.executorFailed.rawValue, "\(vm): exit \(ran.status): \(said)", fields.ended(.failed))
            return .failure(RegionError(.executorFailed, "the executor for \(vm) exited \(ran.status): \(said)"))
        }
        await audit(target, .executorFinished, code: nil, "\(vm): exit 0\(said.isEmpty ? "" : ": \(said)")", fields)

        // Where the VM is now, as the target's agent reports it (asked a few times: a VM manager may list it late).
        var reported: HostVM?
        for attempt in 0..<20 {
            if attempt > 0 { try? await Task.sleep(for: .milliseconds(500)) }
            reported = try? await driver.report(target).vms.first { $0.name == vm && AgentOrderDriver.runState($0.state).hasProcess }
            if reported != nil { break }
        }
        guard let reported else {
            await audit(target, .migrationFailed, code: RegionError.Code.executorNotPlaced.rawValue, "\(vm): the executor ended but \(target)'s agent does not report it",
                  fields.ended(.failed))
            return .failure(RegionError(.executorNotPlaced, "the executor for \(vm) ended but \(target)'s agent does not report it; it stays recorded on \(source)"))
        }
        let state: VMRecord.State = AgentOrderDriver.runState(reported.state) == .running ? .running : .paused
        do { try await orchestrator.inventory.setVM(vm, host: target, state: state, why: "handed off by the executor; reported by \(target)'s agent") } catch {
            return .failure(RegionError(.migrateFailed, "recording \(vm) on \(target): \(error)"))
        }
        let total = clock.now - started
        let totalMs = total.inMilliseconds
        await audit(target, .handedOff, code: nil, String(format: "%@ is %@ on %@ as its agent reports (%.1f ms from the choice of target; no attest-before-resume gate)",
                                                     vm, reported.state, target, totalMs), fields.ended(.handedOff))
        await refreshPlacement()
        return .success(Outcome(vm: vm, source: source, target: target, result: .handedOff, totalMs: totalMs))
    }

    /// The last line(s) a program printed, short enough for an audit event.
    static func tail(_ text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.count <= 300 ? trimmed : "…" + String(trimmed.suffix(300))
    }
}
