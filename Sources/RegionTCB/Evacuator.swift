package import Foundation
package import Logging
package import Migration
package import Policy
package import RegionProtocol
import DurationUnits

extension RegionError.Code {
    package static let migrateUnknownVM = Self(rawValue: "migrate.unknown-vm")
    package static let migrateTargetUnknown = Self(rawValue: "migrate.target-unknown")
    package static let migrateTargetUntrusted = Self(rawValue: "migrate.target-untrusted")
    package static let migrateTargetStale = Self(rawValue: "migrate.target-stale")
    package static let migrateTargetExcluded = Self(rawValue: "migrate.target-excluded")
    package static let migrateTargetFull = Self(rawValue: "migrate.target-full")
    package static let migrateChallengeFailed = Self(rawValue: "migrate.target-failed-challenge")
    package static let migrateReattestFailed = Self(rawValue: "migrate.target-failed-reattestation")
    package static let migrateFailed = Self(rawValue: "migrate.failed")
    package static let migrateSameHost = Self(rawValue: "migrate.same-host")
}

/// The RC-TCB's decision engine: when a host turns `untrusted` (or `unreachable`, as the policy's `on-state`
/// says) its VMs move, each only to a host that proves it is good at the moment it receives the VM:
///
/// 1. candidates: `trusted` hosts whose last verified quote is younger than `targets.max-quote-age`, not
///    excluded, with room (capacity from the region policy, else as the host's agent reports it), least loaded first;
/// 2. the chosen target is challenged now (the RC-TCB's nonce, its verification);
/// 3. the VM is migrated with the destination paused;
/// 4. the target is challenged again; only then does the VM resume there. A target failing a step is marked
///    by the verdict itself (untrusted/unreachable), the copy on it never runs, and the next candidate is tried.
///
/// With no candidate left the policy's `evacuation.no-target` decides (pause at the source, keep running, or
/// shut down) and the operator is told. A target whose incoming migration ports are all taken is waited for,
/// never given up. Every step is an audit event in the IVT; the verdict that caused an evacuation is kept in its
/// ``EvacuationRecord``. A host evacuated because it fell silent that verifies `trusted` again leaves
/// `evacuating` as `evacuation.silent-recovered` says. The operator's gated `migrate` goes through the same
/// steps for one VM and one target.
package actor Evacuator {
    /// Steps of one VM's move, as audit event kinds (`evacuation.*` in the IVT's event table).
    package enum Step: String, Sendable, CaseIterable {
        case started = "evacuation.started"
        case targetChosen = "evacuation.target-chosen"
        case targetChallenged = "evacuation.target-challenged"
        case targetRefused = "evacuation.target-refused"
        case migrationStarted = "evacuation.migration-started"
        case migrated = "evacuation.migrated"
        case targetReattested = "evacuation.target-reattested"
        case resumed = "evacuation.resumed"
        case migrationFailed = "evacuation.migration-failed"
        case noTarget = "evacuation.no-target"
        case waitingForPort = "evacuation.waiting-for-port"
        case finished = "evacuation.finished"
        /// A host evacuated while silent verified `trusted` again; its evacuation ended.
        case recovered = "evacuation.recovered"
        /// `evacuation.executor` was started for a VM, and how it ended (its exit status).
        case executorStarted = "evacuation.executor-started"
        case executorFinished = "evacuation.executor"
        /// The executor moved the VM: the target's agent reports it there.
        case handedOff = "evacuation.handed-off"
    }

    package struct Outcome: Codable, Sendable, Hashable {
        package var vm: String
        package var source: String
        /// Where the VM runs now (nil: it stayed at the source).
        package var target: String?
        package var result: EvacuationOutcome
        package var code: String?
        package var detail: String?
        /// Migration start → transfer done, and → resumed on the re-attested target (ms).
        package var transferMs: Double?
        package var totalMs: Double?
    }

    let region: RegionState
    let store: any RegionStore
    let orchestrator: MigrationOrchestrator
    let policy: RegionPolicy
    let logger: Logger
    package let records: EvacuationRecords
    let ports = MigrationPortSlots()
    var active: Set<String> = []
    /// VMs waiting for a target (the operator was told once).
    var held: Set<String> = []
    /// Each agent host's room for VMs, as its last report said (where the region policy gives it no `capacity`).
    var reportedCapacity: [String: HostCapacity] = [:]
    /// Called right after each step (an evacuation step or a migration step) is committed. The product passes
    /// none; tests inject one (a crash, an attack at that moment) through their own executable.
    let stepHook: (@Sendable (String) -> Void)?
    /// Whether this RC-TCB may move VMs now (``RegionLeadership/mayAct``: several RC-TCBs share the store, and only
    /// the leader acts); nil: it is the region's only one.
    package var leadership: RegionLeadership?

    package init(region: RegionState, orchestrator: MigrationOrchestrator, policy: RegionPolicy, logger: Logger,
                stepHook: (@Sendable (String) -> Void)? = nil) throws(RegionError) {
        self.region = region
        self.store = region.store
        self.records = EvacuationRecords(store: region.store)
        self.orchestrator = orchestrator
        self.policy = policy
        self.logger = logger
        self.stepHook = stepHook
    }

    /// The migration parameters of the region policy.
    package static func tuning(_ m: RegionPolicy.MigrationSettings) -> MigrationTuning {
        MigrationTuning(maxBandwidthBytesPerSecond: UInt64(m.maxBandwidthMiBps) << 20, downtimeLimitMs: UInt64(m.downtimeLimit.wholeMilliseconds),
                        multifdChannels: m.multifdChannels, autoConverge: m.autoConverge)
    }

    // MARK: Triggers

    /// A committed state change: evacuate when the policy says so for the new state.
    package func stateChanged(host: String, old: HostState?, new: HostState) async {
        guard shouldEvacuate(new) else { return }
        await evacuate(host)
    }

    func shouldEvacuate(_ state: HostState) -> Bool {
        switch state {
        case .untrusted: return [.evacuate, .confirmThenEvacuate].contains(policy.actions[.untrusted] ?? .evacuate)
        // `unreachable` is only ever set after the RC-TCB's own direct challenge went unanswered: confirmed.
        case .unreachable: return [.evacuate, .confirmThenEvacuate].contains(policy.actions[.unreachable] ?? .confirmThenEvacuate)
        case .evacuating: return true
        default: return false
        }
    }

    /// After a restart: finishes what the inventory shows half done (a copy on a host that may not run it stays
    /// paused), then takes up every evacuation that is due.
    package func resumeAfterRestart() async {
        await warnAboutPortRanges()
        let recovery = Recovery(orchestrator: orchestrator) { host in await self.attestNow(host, reason: "recovery after an RC-TCB restart") }
        do {
            for a in try await recovery.run() where a.action != "verified" {
                try? await store.audit(host: a.host, kind: "recovery.\(a.action)", code: nil, detail: "\(a.vm): \(a.detail)",
                                 evacuation: EvacuationFields(vm: a.vm), now: Date())
            }
        } catch {
            logger.error("recovery failed", metadata: ["attest.reason": "\(error)"])
        }
        await sweep()
    }

    /// Starts evacuations that are due: hosts `evacuating`, or in a state the policy evacuates, that still hold VMs.
    package func sweep() async {
        let rows = await region.rows()
        await adoptReportedVMs(trusted: Set(rows.filter { $0.state == .trusted }.map(\.host)))
        guard let vms = try? await orchestrator.inventory.vms() else { return }
        let occupied = Set(vms.filter { $0.state == .running || $0.state == .paused }.map(\.host))
        // An `evacuating` host with nothing left (recovery finished its last move) is closed as `evacuated`.
        for row in rows where ((occupied.contains(row.host) && shouldEvacuate(row.state)) || row.state == .evacuating) && !active.contains(row.host) {
            Task { await self.evacuate(row.host) }
        }
    }

    // MARK: Evacuation

    /// Moves every VM off `host`, up to `evacuation.max-parallel` at a time.
    package func evacuate(_ host: String) async {
        guard !active.contains(host), mayAct() else { return }
        active.insert(host)
        defer { active.remove(host) }
        guard let row = try? await store.row(host) else { return }
        let vms = ((try? await orchestrator.inventory.vms()) ?? []).filter { $0.host == host && ($0.state == .running || $0.state == .paused) }
        let open = try? await records.current(host: host)
        // A host evacuated because it fell silent may have proved good again since.
        if row.state == .evacuating, let open, open.causedBySilence, await recoverIfTrusted(host, evacuation: open) { return }
        // A host without VMs has nothing to evacuate: it keeps its verdict (`untrusted`, `unreachable`). Only a
        // host whose last VM left during recovery is closed as `evacuated`.
        if vms.isEmpty {
            if row.state == .evacuating {
                let cause = if let open { open } else { try? await openRecord(row) }
                _ = try? await region.setEvacuationState(.evacuated, host: host, code: cause?.causeCode, detail: cause?.causeDetail)
                try? await records.close(host: host, outcome: "evacuated", detail: "no VM left")
                await audit(host, .finished, code: cause?.causeCode, "no VM left", EvacuationFields(vm: nil, source: host))
            }
            return
        }
        // A retry while every VM waits for a target starts only when some VM has a candidate now.
        if row.state == .evacuating, !vms.isEmpty, vms.allSatisfy({ held.contains($0.name) }), await !anyHasCandidate(vms, excluding: host) {
            return
        }
        // The verdict that caused the evacuation is recorded once, when it begins; later verdicts do not change it.
        let record: EvacuationRecord
        do { record = if let open { open } else { try await openRecord(row) } } catch {
            logger.error("cannot record the evacuation", metadata: ["attest.host": "\(host)", "attest.reason": "\(error)"])
            return
        }
        let cause = record.causeCode
        if row.state != .evacuating {
            _ = try? await region.setEvacuationState(.evacuating, host: host, code: cause, detail: record.causeDetail)
        }
        await audit(host, .started, code: cause, "\(vms.count) VM(s): \(vms.map(\.name).joined(separator: ", ")); cause: \(record.causeState) \(cause ?? "-"): \(record.causeDetail ?? "")",
              EvacuationFields(vm: nil, source: host))
        logger.notice("evacuating host", metadata: ["attest.host": "\(host)", "attest.vms": "\(vms.count)", "attest.code": "\(cause ?? "-")"])

        var outcomes: [Outcome] = []
        let limit = policy.evacuation.maxParallel
        await withTaskGroup(of: Outcome.self) { group in
            var next = 0
            while next < min(limit, vms.count) { let vm = vms[next]; group.addTask { await self.moveAway(vm.name, from: host) }; next += 1 }
            for await outcome in group {
                outcomes.append(outcome)
                if next < vms.count { let vm = vms[next]; group.addTask { await self.moveAway(vm.name, from: host) }; next += 1 }
            }
        }
        await refreshPlacement()
        let left = ((try? await orchestrator.inventory.vms()) ?? []).filter { $0.host == host && ($0.state == .running || $0.state == .paused) }
        if left.isEmpty {
            _ = try? await region.setEvacuationState(.evacuated, host: host, code: cause, detail: record.causeDetail)
            try? await records.close(host: host, outcome: "evacuated", detail: outcomes.map { "\($0.vm) → \($0.target ?? $0.result.rawValue)" }.joined(separator: ", "))
            await audit(host, .finished, code: cause, outcomes.map { "\($0.vm) → \($0.target ?? $0.result.rawValue)" }.joined(separator: ", "),
                  EvacuationFields(vm: nil, source: host))
            checkpoint(Step.finished.rawValue)
        } else {
            logger.warning("evacuation incomplete: no trusted target for some VMs", metadata: ["attest.host": "\(host)", "attest.vms": "\(left.map(\.name).joined(separator: ","))"])
        }
    }

    /// One VM off an evacuated host: every candidate in turn; the policy decides if none takes it.
    func moveAway(_ vm: String, from source: String) async -> Outcome {
        var tried: Set<String> = [source]
        while let target = await candidates(for: vm, excluding: tried).first {
            tried.insert(target)
            switch await move(vm, to: target, source: source) {
            case .success(let outcome): held.remove(vm); return outcome
            case .failure: continue
            }
        }
        return await noTarget(vm, source: source)
    }

    /// The gated `migrate`: one VM to one named target, through the same checks. Refusals carry the reason.
    package func migrate(vm: String, to target: String) async throws(RegionError) -> Outcome {
        let record: VMRecord
        do { record = try await orchestrator.inventory.vm(named: vm) } catch {
            throw RegionError(.migrateUnknownVM, "no VM named '\(vm)' in the RC-TCB's inventory")
        }
        guard record.host != target else { throw RegionError(.migrateSameHost, "\(vm) already runs on \(target)") }
        if let refusal = await refusal(of: target, for: record) { throw refusal }
        switch await move(vm, to: target, source: record.host) {
        case .success(let outcome): return outcome
        case .failure(let e): throw e
        }
    }

    /// Where every VM of the inventory is and in what state.
    package func placement() async throws(RegionError) -> [VMPlacement] {
        do {
            return try await orchestrator.inventory.vms().map { VMPlacement(vm: $0.name, host: $0.host, state: $0.state.rawValue, memoryMiB: $0.description.memoryMiB) }
        } catch let error as RegionError {
            throw error
        } catch {
            throw RegionError(.storeCorrupt, "VM inventory: \(error)")
        }
    }

    // MARK: Candidates

    /// Why `target` may not receive `vm` now, or nil.
    /// `placed`: the inventory's live VMs by host, when the caller has already read them.
    func refusal(of target: String, for vm: VMRecord, now: Date = Date(), placed: [String: [VMRecord]]? = nil) async -> RegionError? {
        guard let row = try? await store.row(target), policy.hosts.contains(where: { $0.id == target }) else {
            return RegionError(.migrateTargetUnknown, "\(target) is not a host of region \(policy.name)")
        }
        if policy.targets.exclude.contains(target) { return RegionError(.migrateTargetExcluded, "\(target) is excluded by targets.exclude") }
        guard row.state == .trusted, !row.revoked else {
            return RegionError(.migrateTargetUntrusted, "\(target) is \(row.revoked ? "revoked" : row.state.rawValue)\(row.failureCode.map { " (\($0))" } ?? "")")
        }
        let maxAge = policy.targets.maxQuoteAge.inSeconds
        guard let last = row.lastQuoteAt, now.timeIntervalSince(last) <= maxAge else {
            let age = row.lastQuoteAt.map { "\(Int(now.timeIntervalSince($0))) s old" } ?? "missing"
            return RegionError(.migrateTargetStale, "\(target)'s last verified quote is \(age); targets.max-quote-age is \(Int(maxAge)) s")
        }
        let placed = if let placed { placed } else { await liveVMsByHost() }
        if !hasRoom(target, for: vm, placed: placed) { return RegionError(.migrateTargetFull, "\(target) has no room for \(vm.name) (capacity from the region policy or its agent's report)") }
        return nil
    }

    /// Hosts that may receive `vm` now, best first.
    package func candidates(for vm: String, excluding: Set<String>, now: Date = Date()) async -> [String] {
        guard let record = try? await orchestrator.inventory.vm(named: vm) else { return [] }
        let load = await liveVMsByHost()
        var ok: [String] = []
        for h in policy.hosts.map(\.id) where !excluding.contains(h) {
            if await refusal(of: h, for: record, now: now, placed: load) == nil { ok.append(h) }
        }
        switch policy.targets.prefer {
        case .leastLoaded:
            return ok.sorted { (load[$0]?.count ?? 0, $0) < (load[$1]?.count ?? 0, $1) }
        case .ringNext:
            let ring = policy.ring
            guard let i = ring.firstIndex(of: record.host) else { return ok }
            return (1..<max(ring.count, 1)).map { RingSuccession.successor(at: i, step: $0, in: ring) }.filter(ok.contains)
        }
    }

    /// Whether some VM of `vms` has a target now.
    func anyHasCandidate(_ vms: [VMRecord], excluding host: String) async -> Bool {
        for vm in vms where await !candidates(for: vm.name, excluding: [host]).isEmpty { return true }
        return false
    }

    /// The inventory's VMs that hold resources (not stopped or lost), by host: one read of the inventory.
    func liveVMsByHost() async -> [String: [VMRecord]] {
        Dictionary(grouping: ((try? await orchestrator.inventory.vms()) ?? []).filter { $0.state != .stopped && $0.state != .lost }, by: \.host)
    }

    /// Keeps what `host`'s agent last reported of its room for VMs (nil: it said nothing).
    package func recordReportedCapacity(_ capacity: HostCapacity?, of host: String) {
        reportedCapacity[host] = capacity
    }

    func hasRoom(_ host: String, for vm: VMRecord, placed: [String: [VMRecord]]) -> Bool {
        guard let cfg = policy.hosts.first(where: { $0.id == host }) else { return false }
        let there = placed[host] ?? []
        let reported = reportedCapacity[host]
        if let cpus = cfg.capacityVCPUs ?? reported?.vcpus, there.reduce(0, { $0 + $1.description.cpus }) + vm.description.cpus > cpus { return false }
        if let mem = cfg.capacityMemoryMiB ?? reported?.memoryMiB,
           there.reduce(0, { $0 + $1.description.memoryMiB }) + vm.description.memoryMiB > mem { return false }
        return true
    }

    // MARK: One move

    /// Challenge, migrate paused, re-attest, resume, holding one of the target's incoming migration ports
    /// throughout (waiting for one when all are taken). A failure leaves the VM at the source and says why.
    func move(_ vm: String, to target: String, source: String) async -> Result<Outcome, RegionError> {
        guard mayAct() else { return .failure(RegionError(.storeFenced, "this RC-TCB no longer leads the region: \(vm) is left to the leader")) }
        let started = ContinuousClock.now
        let fields = EvacuationFields(vm: vm, source: source, target: target)
        await audit(source, .targetChosen, code: nil, "\(vm) → \(target)", fields)
        let capacity = (try? await orchestrator.inventory.host(named: target))?.ports.count ?? 1
        let store = self.store
        await ports.acquire(target, capacity: capacity) {
            try? await store.audit(host: source, kind: Step.waitingForPort.rawValue, code: nil,
                             detail: "\(vm) → \(target): all \(capacity) incoming migration port(s) of \(target) are taken; waiting for one",
                             evacuation: fields, now: Date())
        }
        let result = await moveHoldingPort(vm, to: target, source: source, started: started)
        await ports.release(target)
        return result
    }

    func moveHoldingPort(_ vm: String, to target: String, source: String, started: ContinuousClock.Instant) async -> Result<Outcome, RegionError> {
        let fields = EvacuationFields(vm: vm, source: source, target: target)
        if let executor = policy.evacuation.executor { return await handOff(vm, to: target, source: source, executor: executor, started: started) }
        if policy.targets.rechallengeBeforeMove {
            guard await attestNow(target, reason: "before receiving \(vm)") else {
                let row = try? await store.row(target)
                await audit(target, .targetRefused, code: row?.failureCode ?? "migrate.target-failed-challenge", "\(vm): the challenge before the move failed (\(row?.state.rawValue ?? "?"))",
                      fields.ended(.refused))
                return .failure(RegionError(.migrateChallengeFailed, "\(target) failed the challenge before the move: \(row?.state.rawValue ?? "?") \(row?.failureCode ?? "")"))
            }
            await audit(target, .targetChallenged, code: nil, "\(vm): trusted, fresh quote", fields)
            checkpoint(Step.targetChallenged.rawValue)
        }
        await audit(target, .migrationStarted, code: nil, "\(vm): \(source) → \(target), destination paused", fields)
        let report: MigrationReport
        do {
            report = try await migrateWhenAPortIsFree(vm, to: target)
        } catch {
            await audit(target, .migrationFailed, code: (error as? MigrationError)?.code.rawValue, "\(vm): \(error)", fields.ended(.failed))
            return .failure(RegionError(.migrateFailed, "migration of \(vm) to \(target) failed: \(error)"))
        }
        await audit(target, .migrated, code: nil, String(format: "%@: transferred in %.1f ms, paused on %@", vm, report.measuredTransferMs, target), fields)
        if policy.targets.reattestAfterMove {
            guard await attestNow(target, reason: "after receiving \(vm)") else {
                let row = try? await store.row(target)
                await audit(target, .targetRefused, code: row?.failureCode ?? "migrate.target-failed-reattestation", "\(vm): re-attestation after the move failed; the copy there never ran",
                      fields.ended(.refused))
                do { try await orchestrator.abandonMigration(vm: vm, reason: "\(target) failed re-attestation") } catch {
                    logger.error("cannot abandon the migration", metadata: ["attest.vm": "\(vm)", "attest.reason": "\(error)"])
                }
                return .failure(RegionError(.migrateReattestFailed, "\(target) failed re-attestation after the move; \(vm) stayed at \(source)"))
            }
            await audit(target, .targetReattested, code: nil, "\(vm): trusted after the move", fields)
            checkpoint(Step.targetReattested.rawValue)
        }
        do {
            try await orchestrator.resumeMigration(vm: vm, afterStep: { step in self.checkpointNow(step.rawValue) })
        } catch {
            await audit(target, .migrationFailed, code: (error as? MigrationError)?.code.rawValue, "\(vm): resume failed: \(error)", fields.ended(.failed))
            return .failure(RegionError(.migrateFailed, "resuming \(vm) on \(target) failed: \(error)"))
        }
        let total = ContinuousClock.now - started
        let totalMs = total.inMilliseconds
        await audit(target, .resumed, code: nil, String(format: "%@ runs on %@ (%.1f ms from the choice of target)", vm, target, totalMs),
              fields.ended(.moved))
        await refreshPlacement()
        return .success(Outcome(vm: vm, source: source, target: target, result: .moved, transferMs: report.measuredTransferMs, totalMs: totalMs))
    }

    /// No trusted target: the policy decides, and the operator is told (once per VM while it waits).
    func noTarget(_ vm: String, source: String) async -> Outcome {
        let action = policy.evacuation.noTarget
        let result: EvacuationOutcome = switch action {
        case .pause: .paused
        case .shutdown: .shutDown
        case .keepRunning: .keptRunning
        }
        guard !held.contains(vm) else { return Outcome(vm: vm, source: source, target: nil, result: result, code: "evacuation.no-target") }
        held.insert(vm)
        await audit(source, .noTarget, code: "evacuation.no-target", "\(vm): no trusted target; policy: \(action.rawValue)",
              EvacuationFields(vm: vm, source: source, outcome: result))
        logger.critical("no trusted target for a VM of an untrusted host", metadata: ["attest.vm": "\(vm)", "attest.host": "\(source)", "attest.action": "\(action.rawValue)"])
        switch action {
        case .pause:
            do { try await orchestrator.pauseVM(vm, why: "no trusted target") } catch {
                logger.error("cannot pause the VM", metadata: ["attest.vm": "\(vm)", "attest.reason": "\(error)"])
            }
        case .shutdown:
            if let record = try? await orchestrator.inventory.vm(named: vm), let host = try? await orchestrator.inventory.host(named: record.host) {
                let d = orchestrator.driver(for: host)
                try? await d.stop(d.instance(of: vm, on: host, port: nil))
                try? await orchestrator.inventory.setVM(vm, host: host.name, state: .stopped, why: "shut down: no trusted target")
            }
        case .keepRunning: break
        }
        return Outcome(vm: vm, source: source, target: nil, result: result, code: "evacuation.no-target")
    }

    // MARK: Helpers

    /// Opens the host's evacuation record with the verdict its row holds now (`untrusted` or `unreachable`; a
    /// host already `evacuating` without a record is judged by its failure code).
    func openRecord(_ row: IVTRow) async throws(RegionError) -> EvacuationRecord {
        var state = row.state
        if state == .evacuating || state == .evacuated { state = row.failureCode == RegionError.Code.hostUnreachable.rawValue ? .unreachable : .untrusted }
        return try await records.open(host: row.host, state: state, code: row.failureCode, detail: row.failureDetail)
    }

    /// A direct challenge now; true if the host is `trusted` after it.
    func attestNow(_ host: String, reason: String) async -> Bool {
        guard let cfg = await region.config(host) else { return false }
        let result = await region.challengeDirectly(cfg, reason: reason, now: Date())
        return result.hostState == .trusted
    }

    func refreshPlacement() async {
        guard let vms = try? await orchestrator.inventory.vms() else { return }
        var placement = Dictionary(uniqueKeysWithValues: policy.hosts.map { ($0.id, [String]()) })
        for vm in vms where vm.state != .stopped && vm.state != .lost { placement[vm.host, default: []].append(vm.name) }
        try? await store.setVMs(placement, now: Date())
    }

    func audit(_ host: String, _ step: Step, code: String?, _ detail: String, _ fields: EvacuationFields) async {
        try? await store.audit(host: host, kind: step.rawValue, code: code, detail: detail, evacuation: fields, now: Date())
        checkpoint(step.rawValue)
    }

    func checkpoint(_ step: String) { checkpointNow(step) }

    nonisolated func checkpointNow(_ step: String) { stepHook?(step) }

    func mayAct() -> Bool { leadership?.mayAct ?? true }

    package func follow(_ leadership: RegionLeadership) { self.leadership = leadership }
}
