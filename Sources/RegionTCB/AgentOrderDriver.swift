package import Foundation
package import Migration
package import RegionProtocol

/// The ``MigrationDriver`` of hosts whose VMs their own agents move (`migrations: agent` in the region policy): every
/// step the orchestrator drives becomes a ``MigrationOrder`` to the source's or the target's agent, over mutual TLS
/// with the RC-TCB's certificate (the only one agents take orders from). The orchestrator's inventory journal and the
/// evacuator's attest-before-resume gate stay as they are: `prepare` asks the target's agent where the VM goes,
/// `migrate` orders the source's agent to send it (destination paused) and follows its progress, and only after the
/// RC-TCB re-attested the target does `resume` order the target's agent to let it run.
///
/// Order ids are `PREFIX-mID-STEP-ROLE` inside a migration (ID: the inventory's migration row), so an order sent again
/// after an RC-TCB restart is answered from the agent's record instead of acting twice; a step outside a migration
/// (pause or resume in place) gets a fresh id. `PREFIX` names this RC-TCB's inventory (see ``orderPrefix(directory:)``).
///
/// An agent that does not answer (restarting, its connection refused or reset) is asked again — the same order, by the
/// same id, so it never acts twice — until it has been silent for `silenceLimit` (the region policy's
/// `migration.agent-silence-limit`); then the step fails with `agent-silent`. A migration the source's agent was carrying
/// out when it stopped (its record says `interrupted`) is settled by looking at both hosts: any transfer still running is
/// cancelled, and the VM is wherever its one copy is.
///
/// A VM manager that hands a VM over whole (libvirt: the source is undefined once the transfer ended) leaves one copy
/// at every moment; ``stop(_:)`` never stops the only copy, so a target that fails re-attestation keeps the VM paused.
/// QEMU keeps the source `postmigrate` (paused, its state sent) until it is stopped, as on the RC-TCB's own QEMU hosts:
/// a target that fails re-attestation is stopped and the source, cancelled, runs on.
package struct AgentOrderDriver: MigrationDriver {
    /// The agents' HTTPS API with the RC-TCB's certificate (or, in the benchmark, agents in this process).
    let transport: any OrderTransport
    /// Host id → the agent's base URL (`https://ADDRESS:PORT`, the region policy's endpoint).
    let agents: [String: String]
    let inventory: any VMInventoryStore
    let prefix: String
    let tuning: MigrationOrder.Tuning?
    /// How often a running migration's progress is asked for (and a silent agent asked again).
    let pollInterval: Duration
    /// How long an agent may go without answering before the step fails with `agent-silent`.
    let silenceLimit: Duration

    package init(client: any OrderTransport, agents: [String: String], inventory: any VMInventoryStore, prefix: String,
                 tuning: MigrationOrder.Tuning?, pollInterval: Duration = .milliseconds(200), silenceLimit: Duration = .seconds(60)) {
        self.transport = client
        self.agents = agents
        self.inventory = inventory
        self.prefix = prefix
        self.tuning = tuning
        self.pollInterval = pollInterval
        self.silenceLimit = silenceLimit
    }

    /// The migration tuning of the region policy, as orders carry it.
    package static func tuning(_ t: MigrationTuning) -> MigrationOrder.Tuning {
        MigrationOrder.Tuning(maxBandwidthMiBps: t.maxBandwidthBytesPerSecond.map { max(1, $0 >> 20) }, downtimeLimitMs: t.downtimeLimitMs,
                              autoConverge: t.autoConverge, parallelConnections: t.multifdChannels)
    }

    /// The order-id prefix of the inventory beside `directory`: 16 hex digits made once and kept in
    /// `DIR/order-prefix`, so a new inventory never reuses the ids agents recorded for an old one.
    package static func orderPrefix(directory: String) throws -> String {
        let path = "\(directory)/order-prefix"
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let word = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if word.count == 16, word.allSatisfy(\.isHexDigit) { return word }
        }
        var rng = SystemRandomNumberGenerator()
        let word = String(format: "%016llx", rng.next() as UInt64)
        try Data((word + "\n").utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return word
    }

    // MARK: Orders

    func base(_ host: String) throws -> String {
        guard let url = agents[host] else {
            throw MigrationError(.unknownHost, "\(host) is not a host whose agent takes migration orders (migrations: agent in the region policy)")
        }
        return url
    }

    /// The id of `step` for `role` in the open migration of `vm`, or a fresh one outside a migration.
    func orderId(_ vm: String, _ step: MigrationOrder.Step, _ role: MigrationOrder.Role) async -> String {
        if let plan = try? await inventory.openMigrations().first(where: { $0.vm == vm }) {
            return "\(prefix)-m\(plan.id)-\(step.rawValue)-\(role.rawValue)"
        }
        return "\(prefix)-\(step.rawValue)-\(UUID().uuidString.lowercased())"
    }

    /// Which end of the open migration of `vm` `host` is (the source outside a migration).
    func role(of host: String, for vm: String) async -> MigrationOrder.Role {
        (try? await inventory.openMigrations().first(where: { $0.vm == vm && $0.target == host })) != nil ? .target : .source
    }

    /// Sends `order` to its host's agent (again by its id while the agent is silent, up to `silenceLimit`); an order
    /// the agent failed is a ``MigrationError`` on `side`. A step other than `migrate` is answered once it ended: an
    /// order sent again while the agent still carries out the first (a slow `prepare` whose answer timed out) is
    /// answered `running` from its record, and is then asked for until it has ended.
    @discardableResult
    func send(_ order: MigrationOrder, side: MigrationError.Side) async throws -> MigrationOrderStatus {
        let url = try base(order.host)
        let status: MigrationOrderStatus = try await patiently(order.host, side: side, "order \(order.step.rawValue) of \(order.vm)") {
            try await transport.post(order, to: url)
        }
        let checked = try Self.checked(status, side: side)
        guard order.step != .migrate, checked.state == .running else { return checked }
        // How it ended is judged as a first answer would be (an `interrupted` step counts only where its effect shows).
        return try Self.checked(try await follow(order, from: checked, side: side), side: side)
    }

    /// `call` to `host`'s agent, made again every `pollInterval` while the agent cannot be reached, until it has been
    /// silent for `silenceLimit` (`agent-silent`; a call still waiting then is cancelled). A refusal the agent answered
    /// is `io`.
    func patiently<T: Sendable>(_ host: String, side: MigrationError.Side, _ what: String,
                                _ call: @escaping @Sendable () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + silenceLimit
        var last = "no answer"
        repeat {
            do {
                guard let answer = try await Self.within(deadline, call) else { break }
                return answer
            } catch let failure as RegionClient.Failure where failure.code.hasPrefix("transport.") {
                last = "\(failure)"
                if clock.now + pollInterval < deadline { try await Task.sleep(for: pollInterval) }
            } catch let failure as RegionClient.Failure {
                throw MigrationError(.io, side: side, "\(what) with \(host)'s agent: \(failure)")
            }
        } while clock.now < deadline
        throw MigrationError(.agentSilent, side: side, "\(host)'s agent did not answer for \(silenceLimit) (\(what)): \(last); "
                             + "the VM stays where its copy runs (hint: start the agent again; recovery then settles the move; "
                             + "migration.agent-silence-limit in the region policy sets the wait)")
    }

    /// `call`'s answer, or nil when `deadline` came first (the call is then cancelled): a connection to an agent that is
    /// gone may wait for the HTTP client's own time-out, longer than the silence allowed.
    static func within<T: Sendable>(_ deadline: ContinuousClock.Instant, _ call: @escaping @Sendable () async throws -> T) async throws -> T? {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await call() }
            group.addTask {
                try await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    static func checked(_ status: MigrationOrderStatus, side: MigrationError.Side) throws -> MigrationOrderStatus {
        switch status.state {
        case .running, .done: return status
        // An agent that stopped while it carried out a step whose effect its record shows (the VM's state when it
        // started again) did what it was told.
        case .interrupted where Self.effectShown(status): return status
        case .failed, .interrupted:
            let order = status.order
            throw MigrationError(order.step == .migrate ? .migrationFailed : .wrongState, side: side,
                                 "\(order.host)'s agent: \(order.step.rawValue) of \(order.vm) \(status.state.rawValue): "
                                 + "\(status.error.map { "\($0.code): \($0.message)" } ?? "-") (VM there: \(status.vmState ?? "?"))")
        }
    }

    /// True if the VM's state in `status` is what its step makes of it.
    static func effectShown(_ status: MigrationOrderStatus) -> Bool {
        guard let vm = status.vmState else { return false }
        return switch status.order.step {
        case .resume: runState(vm) == .running
        case .pause: runState(vm) == .paused
        case .stop: vm == "absent" || runState(vm) == .absent
        case .cancel: true
        case .prepare, .migrate: false
        }
    }

    /// What `host`'s agent reports of its VMs now.
    package func report(_ host: String) async throws -> HostVMReport {
        let url = try base(host), transport = self.transport
        do {
            guard let report = try await Self.within(.now + silenceLimit, { try await transport.report(at: url) }) else {
                throw MigrationError(.agentSilent, "\(host)'s agent did not report its VMs within \(silenceLimit)")
            }
            return report
        } catch let failure as RegionClient.Failure {
            throw MigrationError(.io, "\(host)'s agent did not report its VMs: \(failure)")
        }
    }

    // MARK: MigrationDriver

    package func listVMs(on host: MigrationHost) async throws -> [VMListing] {
        try await report(host.name).vms.map { VMListing(name: $0.name, pid: 0, state: $0.state) }
    }

    package func start(_ vm: VMDescription, on host: MigrationHost) async throws -> VMInstance {
        throw MigrationError(.invalidArgument, side: .target, "\(host.name)'s VMs are started by its own VM manager; the RC-TCB adopts what the agent reports")
    }

    package func prepareTarget(_ vm: VMDescription, on target: MigrationHost, port: Int) async throws -> VMInstance {
        let status = try await send(MigrationOrder(orderId: await orderId(vm.name, .prepare, .target), host: target.name, vm: vm.name, role: .target, step: .prepare,
                                                   machine: await machine(of: vm)), side: .target)
        guard let address = status.migrationAddress else {
            throw MigrationError(.wrongState, side: .target, "\(target.name)'s agent prepared \(vm.name) without saying where it goes")
        }
        return VMInstance(vm: vm.name, host: target.name, controlPath: address, pidFile: "", logFile: "", port: port, address: target.address)
    }

    /// The machine a target that launches the receiving copy itself (QEMU) needs, as the source's agent reports it now,
    /// with the vCPUs and memory the inventory recorded (the source may be the compromised host: what it says only picks
    /// the machine type and a boot image, which the target checks against its own image directory). Nil when the
    /// source's VM manager reports none (libvirt) or does not answer: a QEMU target then refuses to prepare.
    func machine(of vm: VMDescription) async -> VMMachine? {
        guard let plan = try? await inventory.openMigrations().first(where: { $0.vm == vm.name }),
              var machine = try? await report(plan.source).vms.first(where: { $0.name == vm.name })?.machine else { return nil }
        machine.memoryMiB = vm.memoryMiB
        machine.vcpus = vm.cpus
        return machine
    }

    package func migrate(_ vm: VMDescription, from source: VMInstance, to target: VMInstance) -> AsyncThrowingStream<MigrationProgress, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let order = MigrationOrder(orderId: await orderId(vm.name, .migrate, .source), host: source.host, vm: vm.name, role: .source, step: .migrate,
                                               target: .init(host: target.host, migrationAddress: target.controlPath), tuning: tuning)
                    var status = try await send(order, side: .source)
                    continuation.yield(Self.progress(status.progress, status: "active"))
                    status = try await follow(order, from: status) { p in continuation.yield(Self.progress(p, status: p.status)) }
                    guard status.state == .done else {
                        // The source's agent stopped while it carried the migration out: the VM is where its copy is.
                        try await settleInterrupted(vm.name, from: source, to: target)
                        continuation.yield(Self.progress(nil, status: "completed"))
                        continuation.finish()
                        return
                    }
                    continuation.yield(Self.progress(status.progress, status: "completed"))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Asks the agent for `order` (by its id; the source's migrate, or a step answered `running`) until it has ended,
    /// reporting progress; returns how it ended (`done` or `interrupted`; `failed` throws). The agent may restart
    /// meanwhile: its journal answers.
    func follow(_ order: MigrationOrder, from first: MigrationOrderStatus, side: MigrationError.Side = .source,
                progress: (MigrationOrderStatus.Progress) -> Void = { _ in }) async throws -> MigrationOrderStatus {
        var status = first
        let url = try base(order.host)
        while status.state == .running {
            try await Task.sleep(for: pollInterval)
            status = try await patiently(order.host, side: side, "following order \(order.step.rawValue) of \(order.vm)") {
                try await transport.status(of: order.orderId, at: url)
            }
            if status.state == .interrupted { return status }
            status = try Self.checked(status, side: side)
            if status.state == .running, let p = status.progress { progress(p) }
        }
        return status
    }

    /// After the source's agent stopped in the middle of a migration: cancels whatever transfer libvirt may still run,
    /// then waits (up to `silenceLimit`) until the VM is whole on one side — still on the source (the move failed:
    /// `migration-failed`, rolled back by the orchestrator) or paused on the target with none left at the source (the
    /// transfer had completed: the move goes on).
    func settleInterrupted(_ vm: String, from source: VMInstance, to target: VMInstance) async throws {
        // A transfer that completed is not cancelled: QEMU would run its source again, the stale copy then stopped.
        if Self.completed(await state(of: source), await state(of: target)) { return }
        _ = try? await send(MigrationOrder(orderId: await orderId(vm, .cancel, .source), host: source.host, vm: vm, role: .source, step: .cancel), side: .source)
        let clock = ContinuousClock()
        let deadline = clock.now + silenceLimit
        while true {
            let there = await state(of: source), arrived = await state(of: target)
            if Self.completed(there, arrived) { return }
            if [.running, .paused].contains(there), !arrived.hasProcess {
                throw MigrationError(.migrationFailed, side: .source, "\(source.host)'s agent stopped during the migration of \(vm); it was cancelled and \(vm) is still on \(source.host)")
            }
            guard clock.now < deadline else {
                throw MigrationError(.migrationFailed, side: .source, "\(source.host)'s agent stopped during the migration of \(vm); after \(silenceLimit) the source is \(there) and the target \(arrived)")
            }
            try await Task.sleep(for: pollInterval)
        }
    }

    /// True if a transfer has completed, seen from the two copies: the target holds the state, paused, and the source
    /// has none left running (libvirt undefined it; QEMU keeps it `postmigrate`).
    static func completed(_ source: VMRunState, _ target: VMRunState) -> Bool {
        target == .paused && (!source.hasProcess || source == .postMigrate)
    }

    /// Recovery's question: has the migrate order of `vm`'s open migration ended? Asked by its id (never sent again);
    /// an order the agent never took, or a silent agent, ends the wait.
    package func awaitOrderedTransfer(of vm: String, from source: VMInstance) async {
        guard let plan = try? await inventory.openMigrations().first(where: { $0.vm == vm }), let url = try? base(source.host) else { return }
        let id = "\(prefix)-m\(plan.id)-\(MigrationOrder.Step.migrate.rawValue)-\(MigrationOrder.Role.source.rawValue)"
        let first: MigrationOrderStatus? = try? await patiently(source.host, side: .source, "asking for order \(id)") {
            try await transport.status(of: id, at: url)
        }
        guard let first, first.state == .running else { return }
        _ = try? await follow(first.order, from: first)
    }

    static func progress(_ p: MigrationOrderStatus.Progress?, status: String) -> MigrationProgress {
        MigrationProgress(status: status, transferredBytes: p?.transferredBytes ?? 0, remainingBytes: p?.remainingBytes ?? 0,
                          totalBytes: p?.totalBytes ?? 0, totalTimeMs: p?.totalTimeMs, downtimeMs: p?.downtimeMs)
    }

    @discardableResult
    package func resume(_ instance: VMInstance) async throws -> Double? {
        let role = await role(of: instance.host, for: instance.vm)
        try await send(MigrationOrder(orderId: await orderId(instance.vm, .resume, role), host: instance.host, vm: instance.vm, role: role, step: .resume),
                       side: role == .target ? .target : .source)
        return nil
    }

    package func cancel(from source: VMInstance) async throws {
        try await send(MigrationOrder(orderId: await orderId(source.vm, .cancel, .source), host: source.host, vm: source.vm, role: .source, step: .cancel),
                       side: .source)
    }

    package func pause(_ instance: VMInstance) async throws {
        let role = await role(of: instance.host, for: instance.vm)
        try await send(MigrationOrder(orderId: await orderId(instance.vm, .pause, role), host: instance.host, vm: instance.vm, role: role, step: .pause),
                       side: role == .target ? .target : .source)
    }

    package func state(of instance: VMInstance) async -> VMRunState {
        let report: HostVMReport
        do { report = try await self.report(instance.host) } catch { return .unresponsive("\(error)") }
        guard let vm = report.vms.first(where: { $0.name == instance.vm }) else { return .absent }
        return Self.runState(vm.state)
    }

    /// libvirt's and QEMU's words (``HostVM/state``) as the orchestrator's states: a domain that is defined but shut off
    /// has no running copy.
    static func runState(_ word: String) -> VMRunState {
        switch word {
        case "running", "blocked": .running
        case "paused", "pm-suspended": .paused
        case "shut-off": .absent
        case "inmigrate": .incoming
        case "postmigrate": .postMigrate
        case "unresponsive": .unresponsive("its agent reports that the VM manager did not answer for it")
        default: .other(word)
        }
    }

    package func stop(_ instance: VMInstance) async throws {
        let role = await role(of: instance.host, for: instance.vm)
        let side: MigrationError.Side = role == .target ? .target : .source
        if await state(of: instance).hasProcess {
            var elsewhere = false
            for host in agents.keys.sorted() where host != instance.host {
                if let vms = try? await report(host).vms, vms.contains(where: { $0.name == instance.vm && Self.runState($0.state).hasProcess }) {
                    elsewhere = true
                    break
                }
            }
            guard elsewhere else {
                throw MigrationError(.wrongState, side: side, "\(instance.vm) on \(instance.host) is its only copy; it is not stopped")
            }
        }
        try await send(MigrationOrder(orderId: await orderId(instance.vm, .stop, role), host: instance.host, vm: instance.vm, role: role, step: .stop), side: side)
    }

    package func instance(of vm: String, on host: MigrationHost, port: Int?) -> VMInstance {
        VMInstance(vm: vm, host: host.name, controlPath: "", pidFile: "", logFile: "", port: port, address: host.address)
    }

    package func verifyDescription(_ vm: VMDescription, running instance: VMInstance, side: MigrationError.Side) async throws {
        guard let reported = try await report(instance.host).vms.first(where: { $0.name == vm.name }) else {
            throw MigrationError(.unknownVM, side: side, "\(instance.host)'s agent reports no VM called \(vm.name)")
        }
        guard reported.vcpus == vm.cpus, reported.memoryMiB == vm.memoryMiB else {
            throw MigrationError(.descriptionMismatch, side: side, "\(vm.name) on \(instance.host) has \(reported.vcpus) vCPU(s) and \(reported.memoryMiB) MiB; "
                                 + "the inventory says \(vm.cpus) and \(vm.memoryMiB) MiB")
        }
    }
}
