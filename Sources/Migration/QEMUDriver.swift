import Foundation
package import Logging

/// Live migration between `qemu-system-x86_64` processes over QMP.
///
/// Each VM copy is a daemonised QEMU (own session, so it outlives the orchestrator) with a
/// QMP socket, pid file and log in its host's state directory. The target is started with
/// `-S -incoming tcp:ADDR:PORT`, so it cannot run before `resume`.
package struct QEMUDriver: MigrationDriver {
    package struct Configuration: Sendable {
        package var qemuBinary: String
        /// Bound on each QMP exchange (connect + greeting, or one command).
        package var qmpTimeout: Duration
        /// Bound on launching QEMU (until it daemonised).
        package var launchTimeout: Duration
        /// A migration with no change in transferred bytes for this long is cancelled.
        package var stallTimeout: Duration
        package var pollInterval: Duration
        /// Extra arguments appended to both sides (tests use it to force mismatches).
        package var extraArguments: [String]
        /// Migration parameters set on both sides before the transfer.
        package var tuning: MigrationTuning

        package init(qemuBinary: String = "qemu-system-x86_64", qmpTimeout: Duration = .seconds(10), launchTimeout: Duration = .seconds(30), stallTimeout: Duration = .seconds(60), pollInterval: Duration = .milliseconds(10), extraArguments: [String] = [], tuning: MigrationTuning = .qemuDefaults) {
            self.tuning = tuning
            self.qemuBinary = qemuBinary
            self.qmpTimeout = qmpTimeout
            self.launchTimeout = launchTimeout
            self.stallTimeout = stallTimeout
            self.pollInterval = pollInterval
            self.extraArguments = extraArguments
        }
    }

    package let configuration: Configuration
    package let logger: Logger

    package init(configuration: Configuration = Configuration(), logger: Logger = Logger(label: "smig.migration.qemu")) {
        self.configuration = configuration
        self.logger = logger
    }

    // MARK: - Paths and argument vectors

    package func instance(of vm: String, on host: MigrationHost, port: Int? = nil) -> VMInstance {
        let dir = host.stateDirectory
        return VMInstance(
            vm: vm, host: host.name,
            controlPath: "\(dir)/\(vm).qmp",
            pidFile: "\(dir)/\(vm).pid",
            logFile: "\(dir)/\(vm).log",
            port: port, address: host.address
        )
    }

    /// The second QMP monitor, held by a running migration for its whole length (QEMU
    /// serves one client per monitor), so the main one stays free for state, cancel, reads.
    package func migrationControlPath(_ instance: VMInstance) -> String {
        instance.controlPath.hasSuffix(".qmp") ? String(instance.controlPath.dropLast(4)) + ".mig.qmp" : instance.controlPath + ".mig"
    }

    /// The exact argument vector (without the binary) for one copy of `vm`.
    /// `incoming` makes it a paused migration target listening on `address:port`.
    package func arguments(for vm: VMDescription, instance: VMInstance, incoming: Bool) -> [String] {
        var args = [
            "-name", "guest=\(vm.name)",
            "-machine", vm.machineType,
            "-accel", "tcg",
            "-m", "\(vm.memoryMiB)",
            "-smp", "\(vm.cpus)",
            "-nodefaults", "-no-user-config",
            "-display", "none", "-serial", "none", "-parallel", "none",
            "-drive", "file=\(vm.bootImage),format=raw,if=floppy,readonly=on",
            "-boot", "a",
            "-qmp", "unix:\(instance.controlPath),server=on,wait=off",
            "-qmp", "unix:\(migrationControlPath(instance)),server=on,wait=off",
            "-pidfile", instance.pidFile,
            "-daemonize",
        ]
        if incoming, let port = instance.port {
            // multifd needs its capability set on the target before it listens: `defer`, then migrate-incoming.
            args += ["-S", "-incoming", configuration.tuning.multifdChannels > 0 ? "defer" : "tcp:\(instance.address):\(port)"]
        }
        return args + configuration.extraArguments
    }

    // MARK: - Lifecycle

    package func start(_ vm: VMDescription, on host: MigrationHost) async throws -> VMInstance {
        try await launch(vm, instance: instance(of: vm.name, on: host), incoming: false, side: .source)
    }

    package func prepareTarget(_ vm: VMDescription, on target: MigrationHost, port: Int) async throws -> VMInstance {
        try await launch(vm, instance: instance(of: vm.name, on: target, port: port), incoming: true, side: .target)
    }

    private func launch(_ vm: VMDescription, instance: VMInstance, incoming: Bool, side: MigrationError.Side) async throws -> VMInstance {
        try vm.validate()
        let fm = FileManager.default
        do {
            try fm.createDirectory(atPath: URL(fileURLWithPath: instance.pidFile).deletingLastPathComponent().path, withIntermediateDirectories: true)
        } catch {
            throw MigrationError(.launchFailed, side: side, "cannot create state directory for \(instance.host): \(ProcessSupport.describe(error))")
        }
        guard fm.isReadableFile(atPath: vm.bootImage) else {
            throw MigrationError(.invalidArgument, side: side, "boot image \(vm.bootImage) is not readable")
        }
        if ProcessSupport.livePid(pidFile: instance.pidFile, marker: instance.controlPath) != nil {
            throw MigrationError(.alreadyExists, side: side, "\(vm.name) already has a process on \(instance.host)")
        }
        for path in [instance.pidFile, instance.controlPath, migrationControlPath(instance)] { try? fm.removeItem(atPath: path) }
        let argv = [configuration.qemuBinary] + arguments(for: vm, instance: instance, incoming: incoming)
        logger.debug("launching qemu", metadata: ["migration.vm": "\(vm.name)", "migration.host": "\(instance.host)"])
        let out: ProcessSupport.Output
        do {
            out = try await ProcessSupport.run(argv, timeout: configuration.launchTimeout)
        } catch {
            await cleanUp(instance)
            throw (error as? MigrationError)?.on(side) ?? error
        }
        try? (out.stdout + out.stderr).write(toFile: instance.logFile, atomically: true, encoding: .utf8)
        guard out.status == 0 else {
            await cleanUp(instance)
            let line = out.stderr.split(separator: "\n").last.map(String.init) ?? "exit status \(out.status)"
            throw MigrationError(.launchFailed, side: side, "qemu for \(vm.name) on \(instance.host): \(line)")
        }
        // Check that it answers QMP in the expected state; otherwise kill it.
        do {
            if incoming, configuration.tuning.multifdChannels > 0, let port = instance.port {
                let qmp = try await QMPClient.connect(path: instance.controlPath, timeout: configuration.qmpTimeout)
                defer { qmp.close() }
                try await apply(configuration.tuning, on: qmp)
                try await qmp.execute("migrate-incoming", ["uri": .string("tcp:\(instance.address):\(port)")])
            }
            let state = try await queryState(instance)
            let expected: VMRunState = incoming ? .incoming : .running
            guard state == expected else {
                throw MigrationError(.launchFailed, side: side, "\(vm.name) on \(instance.host) is \(state), expected \(expected)")
            }
        } catch {
            await cleanUp(instance)
            throw (error as? MigrationError)?.on(side) ?? error
        }
        return instance
    }

    package func stop(_ instance: VMInstance) async throws {
        if let pid = ProcessSupport.livePid(pidFile: instance.pidFile, marker: instance.controlPath) {
            if let qmp = try? await QMPClient.connect(path: instance.controlPath, timeout: .seconds(2)) {
                _ = try? await qmp.execute("quit")
                qmp.close()
            }
            await ProcessSupport.terminate(pid, marker: instance.controlPath, grace: .seconds(3))
            if ProcessSupport.isAlive(pid, marker: instance.controlPath) {
                throw MigrationError(.io, "cannot stop \(instance.vm) on \(instance.host) (pid \(pid))")
            }
        }
        await cleanUp(instance)
    }

    /// Kills whatever the pid file names (if it is ours) and removes the instance's files.
    func cleanUp(_ instance: VMInstance) async {
        if let pid = ProcessSupport.livePid(pidFile: instance.pidFile, marker: instance.controlPath) {
            await ProcessSupport.terminate(pid, marker: instance.controlPath, grace: .milliseconds(500))
        }
        for path in [instance.pidFile, instance.controlPath, migrationControlPath(instance)] { try? FileManager.default.removeItem(atPath: path) }
    }

    package func state(of instance: VMInstance) async -> VMRunState {
        guard ProcessSupport.livePid(pidFile: instance.pidFile, marker: instance.controlPath) != nil else { return .absent }
        do {
            return try await queryState(instance)
        } catch {
            return .unresponsive("\(error)")
        }
    }

    func queryState(_ instance: VMInstance) async throws -> VMRunState {
        let qmp = try await QMPClient.connect(path: instance.controlPath, timeout: configuration.qmpTimeout)
        defer { qmp.close() }
        let status = try await qmp.execute("query-status")
        guard let word = status["status"]?.string else {
            throw MigrationError(.qmpProtocol, "query-status has no status")
        }
        return Self.runState(word)
    }

    package func listVMs(on host: MigrationHost) async throws -> [VMListing] {
        var result: [VMListing] = []
        for (name, pid) in liveVMs(on: host) {
            result.append(VMListing(name: name, pid: pid, state: await state(of: instance(of: name, on: host)).description))
        }
        return result
    }

    /// The VMs of `host` whose pid file names a live QEMU of theirs, by name, with the pid (no QMP asked).
    package func liveVMs(on host: MigrationHost) -> [(name: String, pid: Int32)] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: host.stateDirectory)) ?? []
        return files.sorted().filter { $0.hasSuffix(".pid") }.compactMap { file in
            let inst = instance(of: String(file.dropLast(4)), on: host)
            return ProcessSupport.livePid(pidFile: inst.pidFile, marker: inst.controlPath).map { (inst.vm, $0) }
        }
    }

    // MARK: - Migration

    /// Checks that what runs as `source` is `vm` (memory size and machine type).
    package func verifyDescription(_ vm: VMDescription, running instance: VMInstance, side: MigrationError.Side) async throws {
        let qmp: QMPClient
        do {
            qmp = try await QMPClient.connect(path: instance.controlPath, timeout: configuration.qmpTimeout)
        } catch let error as MigrationError { throw error.on(side) }
        defer { qmp.close() }
        do {
            let mem = try await qmp.execute("query-memory-size-summary")
            guard let base = mem["base-memory"]?.uint64 else {
                throw MigrationError(.qmpProtocol, side: side, "query-memory-size-summary has no base-memory")
            }
            guard base == UInt64(vm.memoryMiB) << 20 else {
                throw MigrationError(.descriptionMismatch, side: side, "\(vm.name) on \(instance.host) has \(base >> 20) MiB, description says \(vm.memoryMiB) MiB")
            }
            let type = try await qmp.execute("qom-get", ["path": .string("/machine"), "property": .string("type")])
            let machines = try await qmp.execute("query-machines")
            let wanted = machines.array?.first { $0["name"]?.string == vm.machineType || $0["alias"]?.string == vm.machineType }
            guard let canonical = wanted?["name"]?.string, type.string == "\(canonical)-machine" else {
                throw MigrationError(.descriptionMismatch, side: side, "\(vm.name) on \(instance.host) runs machine \(type.string ?? "?"), description says \(vm.machineType)")
            }
        } catch let error as MigrationError { throw error.on(side) }
    }

    package func migrate(_ vm: VMDescription, from source: VMInstance, to target: VMInstance) -> AsyncThrowingStream<MigrationProgress, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    try await runMigration(vm, from: source, to: target) { continuation.yield($0) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    private func runMigration(_ vm: VMDescription, from source: VMInstance, to target: VMInstance, yield: @Sendable (MigrationProgress) -> Void) async throws {
        guard let port = target.port else {
            throw MigrationError(.invalidArgument, side: .target, "target instance has no incoming port")
        }
        guard await state(of: target) == .incoming else {
            throw MigrationError(.wrongState, side: .target, "\(vm.name) on \(target.host) is not waiting for an incoming migration")
        }
        try await verifyDescription(vm, running: source, side: .source)
        try await sendState(of: source, to: "tcp:\(target.address):\(port)", towards: target.host, yield: yield) {
            await state(of: target) == .absent
        }
    }

    /// Sends the state of the running (or paused) `source` to a QEMU waiting at `uri` (`tcp:ADDRESS:PORT`) over the
    /// source's second monitor with this driver's tuning, yielding `query-migrate`'s progress until QEMU says
    /// `completed` (the source is then `postmigrate`). A migration that fails, or makes no progress for `stallTimeout`,
    /// is a ``MigrationError`` (cancelled first when stalled); `targetGone` tells whose side a failure is on. Cancelling
    /// the task cancels the migration. Used by ``migrate(_:from:to:)`` and by an agent's QEMU VM manager, which cannot
    /// see the target.
    package func sendState(of source: VMInstance, to uri: String, towards targetName: String, yield: @Sendable (MigrationProgress) -> Void,
                           targetGone: @Sendable () async -> Bool = { false }) async throws {
        let qmp: QMPClient
        do {
            qmp = try await QMPClient.connect(path: migrationControlPath(source), timeout: configuration.qmpTimeout)
        } catch let error as MigrationError { throw error.on(.source) }
        defer { qmp.close() }
        do {
            try await apply(configuration.tuning, on: qmp)
            try await qmp.execute("migrate", ["uri": .string(uri)])
        } catch let error as MigrationError { throw error.on(.source) }
        var lastBytes: UInt64 = 0
        var lastChange = ContinuousClock.now
        while true {
            if Task.isCancelled {
                _ = try? await qmp.execute("migrate_cancel")
                throw MigrationError(.cancelled, side: .orchestrator, "migration of \(source.vm) cancelled")
            }
            let info: JSONValue
            do {
                info = try await qmp.execute("query-migrate")
            } catch let error as MigrationError { throw error.on(.source) }
            var progress = Self.progress(from: info)
            if progress.isCompleted {
                progress.sourcePausedAt = await qmp.events().last(where: { $0.name == "STOP" })?.timestamp
            }
            yield(progress)
            switch progress.status {
            case "completed":
                return
            case "failed", "cancelled":
                let why = info["error-desc"]?.string ?? progress.status
                let gone = await targetGone()
                throw MigrationError(progress.status == "cancelled" ? .cancelled : .migrationFailed,
                                     side: progress.status == "cancelled" ? .orchestrator : gone ? .target : .source,
                                     "migration of \(source.vm) \(source.host) -> \(targetName) \(progress.status): \(why)\(gone ? " (target process exited)" : "")")
            default:
                break
            }
            if progress.transferredBytes != lastBytes {
                lastBytes = progress.transferredBytes
                lastChange = .now
            } else if ContinuousClock.now - lastChange > configuration.stallTimeout {
                _ = try? await qmp.execute("migrate_cancel")
                throw MigrationError(.migrationFailed, side: .target, "migration of \(source.vm) made no progress for \(configuration.stallTimeout)")
            }
            try? await Task.sleep(for: configuration.pollInterval)
        }
    }

    /// Sets `tuning`'s capabilities and parameters on one side (nothing for QEMU's defaults).
    func apply(_ tuning: MigrationTuning, on qmp: QMPClient) async throws {
        let caps = tuning.qmpCapabilities
        if !caps.isEmpty { try await qmp.execute("migrate-set-capabilities", ["capabilities": .array(caps)]) }
        let params = tuning.qmpParameters
        if !params.isEmpty { try await qmp.execute("migrate-set-parameters", params) }
    }

    /// Pauses a running VM (QMP `stop`); it keeps its process and memory.
    package func pause(_ instance: VMInstance) async throws {
        let qmp = try await QMPClient.connect(path: instance.controlPath, timeout: configuration.qmpTimeout)
        defer { qmp.close() }
        try await qmp.execute("stop")
    }

    /// Progress out of a `query-migrate` reply (missing fields read as 0).
    package static func progress(from info: JSONValue) -> MigrationProgress {
        let ram = info["ram"]
        return MigrationProgress(
            status: info["status"]?.string ?? "none",
            transferredBytes: ram?["transferred"]?.uint64 ?? 0,
            remainingBytes: ram?["remaining"]?.uint64 ?? 0,
            totalBytes: ram?["total"]?.uint64 ?? 0,
            totalTimeMs: info["total-time"]?.uint64,
            downtimeMs: info["downtime"]?.uint64 ?? info["expected-downtime"]?.uint64
        )
    }

    @discardableResult
    package func resume(_ instance: VMInstance) async throws -> Double? {
        let qmp: QMPClient
        do {
            qmp = try await QMPClient.connect(path: instance.controlPath, timeout: configuration.qmpTimeout)
        } catch let error as MigrationError { throw error.on(.target) }
        defer { qmp.close() }
        do {
            let status = try await qmp.execute("query-status")
            if status["status"]?.string == "inmigrate" {
                throw MigrationError(.wrongState, side: .target, "\(instance.vm) on \(instance.host) has not received its state yet")
            }
            try await qmp.execute("cont")
            let after = try await qmp.execute("query-status")
            guard after["status"]?.string == "running" else {
                throw MigrationError(.wrongState, side: .target, "\(instance.vm) on \(instance.host) is \(after["status"]?.string ?? "?") after cont")
            }
            return await qmp.events().last(where: { $0.name == "RESUME" })?.timestamp
        } catch let error as MigrationError { throw error.on(.target) }
    }

    /// `query-migrate` statuses of a migration that has not ended.
    package static let transferring: Set<String> = ["setup", "active", "pre-switchover", "device", "wait-unplug"]

    package func cancel(from source: VMInstance) async throws {
        let qmp: QMPClient
        do {
            qmp = try await QMPClient.connect(path: source.controlPath, timeout: configuration.qmpTimeout)
        } catch let error as MigrationError { throw error.on(.source) }
        defer { qmp.close() }
        do {
            let info = try await qmp.execute("query-migrate")
            let status = info["status"]?.string ?? "none"
            if Self.transferring.contains(status) {
                try await qmp.execute("migrate_cancel")
                let deadline = ContinuousClock.now + configuration.qmpTimeout
                while ContinuousClock.now < deadline {
                    let s = try await qmp.execute("query-migrate")["status"]?.string ?? "none"
                    if !Self.transferring.contains(s), s != "cancelling" { break }
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
            let run = try await qmp.execute("query-status")
            if run["running"]?.bool != true {
                try await qmp.execute("cont")
            }
        } catch let error as MigrationError { throw error.on(.source) }
    }
}
