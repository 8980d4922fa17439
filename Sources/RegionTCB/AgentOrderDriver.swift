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
/// A VM manager that hands a VM over whole (libvirt: the source is undefined once the transfer ended) leaves one copy
/// at every moment; ``stop(_:)`` never stops the only copy, so a target that fails re-attestation keeps the VM paused.
package struct AgentOrderDriver: MigrationDriver {
    let client: RegionClient
    /// Host id → the agent's base URL (`https://ADDRESS:PORT`, the region policy's endpoint).
    let agents: [String: String]
    let inventory: VMInventory
    let prefix: String
    let tuning: MigrationOrder.Tuning?
    /// How often a running migration's progress is asked for.
    let pollInterval: Duration

    package init(client: RegionClient, agents: [String: String], inventory: VMInventory, prefix: String,
                 tuning: MigrationOrder.Tuning?, pollInterval: Duration = .milliseconds(200)) {
        self.client = client
        self.agents = agents
        self.inventory = inventory
        self.prefix = prefix
        self.tuning = tuning
        self.pollInterval = pollInterval
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
    func orderId(_ vm: String, _ step: MigrationOrder.Step, _ role: MigrationOrder.Role) -> String {
        if let plan = try? inventory.openMigrations().first(where: { $0.vm == vm }) {
            return "\(prefix)-m\(plan.id)-\(step.rawValue)-\(role.rawValue)"
        }
        return "\(prefix)-\(step.rawValue)-\(UUID().uuidString.lowercased())"
    }

    /// Which end of the open migration of `vm` `host` is (the source outside a migration).
    func role(of host: String, for vm: String) -> MigrationOrder.Role {
        (try? inventory.openMigrations().first(where: { $0.vm == vm && $0.target == host })) != nil ? .target : .source
    }

    /// Sends `order` to its host's agent; an order the agent failed is a ``MigrationError`` on `side`.
    @discardableResult
    func send(_ order: MigrationOrder, side: MigrationError.Side) async throws -> MigrationOrderStatus {
        let status: MigrationOrderStatus
        do { status = try await client.post("\(try base(order.host))/v1/orders", order) } catch let failure as RegionClient.Failure {
            throw MigrationError(.io, side: side, "order \(order.step.rawValue) of \(order.vm) to \(order.host)'s agent: \(failure)")
        }
        return try Self.checked(status, side: side)
    }

    static func checked(_ status: MigrationOrderStatus, side: MigrationError.Side) throws -> MigrationOrderStatus {
        switch status.state {
        case .running, .done: return status
        case .failed, .interrupted:
            let order = status.order
            throw MigrationError(order.step == .migrate ? .migrationFailed : .wrongState, side: side,
                                 "\(order.host)'s agent: \(order.step.rawValue) of \(order.vm) \(status.state.rawValue): "
                                 + "\(status.error.map { "\($0.code): \($0.message)" } ?? "-") (VM there: \(status.vmState ?? "?"))")
        }
    }

    func report(_ host: String) async throws -> HostVMReport {
        do { return try await client.get("\(try base(host))/v1/vms") } catch let failure as RegionClient.Failure {
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
        let status = try await send(MigrationOrder(orderId: orderId(vm.name, .prepare, .target), host: target.name, vm: vm.name, role: .target, step: .prepare),
                                    side: .target)
        guard let address = status.migrationAddress else {
            throw MigrationError(.wrongState, side: .target, "\(target.name)'s agent prepared \(vm.name) without saying where it goes")
        }
        return VMInstance(vm: vm.name, host: target.name, controlPath: address, pidFile: "", logFile: "", port: port, address: target.address)
    }

    package func migrate(_ vm: VMDescription, from source: VMInstance, to target: VMInstance) -> AsyncThrowingStream<MigrationProgress, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let order = MigrationOrder(orderId: orderId(vm.name, .migrate, .source), host: source.host, vm: vm.name, role: .source, step: .migrate,
                                               target: .init(host: target.host, migrationAddress: target.controlPath), tuning: tuning)
                    var status = try await send(order, side: .source)
                    continuation.yield(Self.progress(status.progress, status: "active"))
                    let url = "\(try base(source.host))/v1/orders/\(order.orderId)"
                    while status.state == .running {
                        try await Task.sleep(for: pollInterval)
                        do { status = try await client.get(url) } catch let failure as RegionClient.Failure {
                            // The agent may be restarting: the order is journaled there; ask again.
                            if failure.code.hasPrefix("transport.") { continue }
                            throw MigrationError(.io, side: .source, "\(source.host)'s agent: \(failure)")
                        }
                        status = try Self.checked(status, side: .source)
                        if status.state == .running, let p = status.progress { continuation.yield(Self.progress(p, status: p.status)) }
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

    static func progress(_ p: MigrationOrderStatus.Progress?, status: String) -> MigrationProgress {
        MigrationProgress(status: status, transferredBytes: p?.transferredBytes ?? 0, remainingBytes: p?.remainingBytes ?? 0,
                          totalBytes: p?.totalBytes ?? 0, totalTimeMs: p?.totalTimeMs, downtimeMs: p?.downtimeMs)
    }

    @discardableResult
    package func resume(_ instance: VMInstance) async throws -> Double? {
        let role = role(of: instance.host, for: instance.vm)
        try await send(MigrationOrder(orderId: orderId(instance.vm, .resume, role), host: instance.host, vm: instance.vm, role: role, step: .resume),
                       side: role == .target ? .target : .source)
        return nil
    }

    package func cancel(from source: VMInstance) async throws {
        try await send(MigrationOrder(orderId: orderId(source.vm, .cancel, .source), host: source.host, vm: source.vm, role: .source, step: .cancel),
                       side: .source)
    }

    package func pause(_ instance: VMInstance) async throws {
        let role = role(of: instance.host, for: instance.vm)
        try await send(MigrationOrder(orderId: orderId(instance.vm, .pause, role), host: instance.host, vm: instance.vm, role: role, step: .pause),
                       side: role == .target ? .target : .source)
    }

    package func state(of instance: VMInstance) async -> VMRunState {
        let report: HostVMReport
        do { report = try await self.report(instance.host) } catch { return .unresponsive("\(error)") }
        guard let vm = report.vms.first(where: { $0.name == instance.vm }) else { return .absent }
        return Self.runState(vm.state)
    }

    /// libvirt's words (``HostVM/state``) as the orchestrator's states: a domain that is defined but shut off has no
    /// running copy.
    static func runState(_ word: String) -> VMRunState {
        switch word {
        case "running", "blocked": .running
        case "paused", "pm-suspended": .paused
        case "shut-off": .absent
        default: .other(word)
        }
    }

    package func stop(_ instance: VMInstance) async throws {
        let role = role(of: instance.host, for: instance.vm)
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
        try await send(MigrationOrder(orderId: orderId(instance.vm, .stop, role), host: instance.host, vm: instance.vm, role: role, step: .stop), side: side)
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
