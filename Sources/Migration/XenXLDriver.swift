import Foundation

/// Migration between Xen hosts through the `xl` toolstack.
///
/// The orchestrator runs on the source dom0: `xl migrate` runs locally, and every other
/// `xl` command goes through `transport` (a command taking a host address then a command
/// line, like `ssh`) to the host's address, which may be this machine. The same transport
/// is what `xl migrate -s` uses to reach the target's `xl migrate-receive`. The target keeps the domain paused (`xl migrate -p`)
/// until `resume` runs `xl unpause` there.
///
/// Limits: `xl` reports no byte counts, so progress is only `active` then `completed`;
/// `xl` has no cancel for a running migration (on failure it resumes the source itself),
/// so `cancel` only unpauses a source left paused.
package struct XenXLDriver: MigrationDriver {
    package var xl: String
    /// Transport command as `xl migrate -s` takes it (passed to `sh`).
    package var transport: String
    package var runner: any CommandRunner
    /// Where to look for dom0-ness; "control_d" must appear in it.
    package var capabilitiesPath: String

    package init(xl: String = "xl", transport: String = "ssh -o BatchMode=yes", runner: any CommandRunner = SystemCommandRunner(), capabilitiesPath: String = "/proc/xen/capabilities") {
        self.xl = xl
        self.transport = transport
        self.runner = runner
        self.capabilitiesPath = capabilitiesPath
    }

    /// Throws the one-line `xenUnavailable` error unless this machine is a Xen dom0.
    package func requireDom0() throws {
        let caps = (try? String(contentsOfFile: capabilitiesPath, encoding: .utf8)) ?? ""
        guard caps.contains("control_d") else {
            throw MigrationError(.xenUnavailable, "not a Xen dom0 (\(capabilitiesPath) does not say control_d): xl cannot run here")
        }
    }

    // MARK: - Argument vectors (tested exactly)

    package func listArguments(domain: String? = nil) -> [String] {
        [xl, "list"] + (domain.map { [$0] } ?? [])
    }

    /// `xl migrate -s TRANSPORT -p DOMAIN ADDRESS`: target keeps the domain paused.
    package func migrateArguments(domain: String, targetAddress: String) -> [String] {
        [xl, "migrate", "-s", transport, "-p", domain, targetAddress]
    }

    /// Runs `xl ARGS...` on `address` through the transport, without a shell seeing our values.
    package func remoteArguments(address: String, _ xlArguments: [String]) -> [String] {
        var script = "\(transport) \"$1\" \(xl)"
        for i in xlArguments.indices { script += " \"$\(i + 2)\"" }
        return ["/bin/sh", "-c", script, "smig-xl", address] + xlArguments
    }

    package func createArguments(configPath: String) -> [String] {
        [xl, "create", configPath]
    }

    /// The xl domain configuration for `vm` (HVM, booting the floppy image).
    package func domainConfig(for vm: VMDescription) -> String {
        """
        name = "\(vm.name)"
        type = "hvm"
        memory = \(vm.memoryMiB)
        vcpus = \(vm.cpus)
        disk = [ "format=raw,vdev=hda,access=ro,target=\(vm.bootImage)" ]
        boot = "c"
        vnc = 0
        serial = "none"

        """
    }

    // MARK: - xl list

    /// One line of `xl list`.
    package struct Domain: Sendable, Hashable {
        package var name: String
        package var id: Int
        package var memoryMiB: Int
        package var vcpus: Int
        /// The six state flags, e.g. "-b----".
        package var state: String
        package var cpuSeconds: Double

        package init(name: String, id: Int, memoryMiB: Int, vcpus: Int, state: String, cpuSeconds: Double) {
            self.name = name
            self.id = id
            self.memoryMiB = memoryMiB
            self.vcpus = vcpus
            self.state = state
            self.cpuSeconds = cpuSeconds
        }
    }

    /// Parses `xl list` output; throws `xlFailed` on any line it cannot read.
    package static func parseList(_ text: String) throws -> [Domain] {
        var lines = text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard let header = lines.first, header.hasPrefix("Name"), header.contains("ID") else {
            throw MigrationError(.xlFailed, "xl list: missing header line")
        }
        lines.removeFirst()
        return try lines.enumerated().map { index, line in
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard fields.count >= 6 else {
                throw MigrationError(.xlFailed, "xl list line \(index + 2): expected 6 fields, got \(fields.count)")
            }
            let tail = fields.suffix(5).map { $0 }
            let name = fields.dropLast(5).joined(separator: " ")
            let flags = Set("rbpscd-")
            guard let id = Int(tail[0]), id >= 0, let mem = Int(tail[1]), mem >= 0, let vcpus = Int(tail[2]), vcpus >= 0,
                  tail[3].count == 6, tail[3].allSatisfy({ flags.contains($0) }),
                  let time = Double(tail[4]), time.isFinite, time >= 0
            else {
                throw MigrationError(.xlFailed, "xl list line \(index + 2): cannot parse '\(line)'")
            }
            return Domain(name: name, id: id, memoryMiB: mem, vcpus: vcpus, state: tail[3], cpuSeconds: time)
        }
    }

    static func runState(flags: String) -> VMRunState {
        if flags.contains("p") { return .paused }
        if flags.contains("r") || flags.contains("b") { return .running }
        if flags.contains("s") { return .other("shutdown") }
        if flags.contains("c") { return .other("crashed") }
        if flags.contains("d") { return .other("dying") }
        return .running // "------": runnable but not scheduled right now
    }

    // MARK: - MigrationDriver

    private func xlRun(_ argv: [String], side: MigrationError.Side) async throws -> CommandOutput {
        try requireDom0()
        let out: CommandOutput
        do {
            out = try await runner.run(argv)
        } catch let error as MigrationError {
            throw error.on(side)
        }
        guard out.status == 0 else {
            let line = out.stderr.split(whereSeparator: \.isNewline).last.map(String.init) ?? "exit status \(out.status)"
            throw MigrationError(.xlFailed, side: side, "\(argv.prefix(2).joined(separator: " ")): \(line)")
        }
        return out
    }

    /// Nothing to compare before the move: `xl migrate` sends the domain's own configuration with its memory, so
    /// the target builds the domain that runs, not the inventory's description of it.
    package func verifyDescription(_ vm: VMDescription, running instance: VMInstance, side: MigrationError.Side) async throws {}

    package func instance(of vm: String, on host: MigrationHost, port: Int?) -> VMInstance {
        VMInstance(vm: vm, host: host.name, controlPath: vm, pidFile: "\(host.stateDirectory)/\(vm).xl.cfg",
                   logFile: "\(host.stateDirectory)/\(vm).log", port: port, address: host.address)
    }

    package func listVMs(on host: MigrationHost) async throws -> [VMListing] {
        let out = try await xlRun(remoteArguments(address: host.address, ["list"]), side: .source)
        return try Self.parseList(out.stdout).filter { $0.id != 0 }.map {
            VMListing(name: $0.name, pid: Int32(clamping: $0.id), state: Self.runState(flags: $0.state).description)
        }
    }

    package func start(_ vm: VMDescription, on host: MigrationHost) async throws -> VMInstance {
        try vm.validate()
        try requireDom0()
        let inst = instance(of: vm.name, on: host, port: nil)
        do {
            try FileManager.default.createDirectory(atPath: host.stateDirectory, withIntermediateDirectories: true)
            try domainConfig(for: vm).write(toFile: inst.pidFile, atomically: true, encoding: .utf8)
        } catch {
            throw MigrationError(.launchFailed, side: .source, "cannot write xl config \(inst.pidFile): \(ProcessSupport.describe(error))")
        }
        _ = try await xlRun(createArguments(configPath: inst.pidFile), side: .source)
        return inst
    }

    package func prepareTarget(_ vm: VMDescription, on target: MigrationHost, port: Int) async throws -> VMInstance {
        // `xl migrate` starts the receiver itself through the transport.
        try requireDom0()
        return instance(of: vm.name, on: target, port: port)
    }

    package func migrate(_ vm: VMDescription, from source: VMInstance, to target: VMInstance) -> AsyncThrowingStream<MigrationProgress, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    continuation.yield(MigrationProgress(status: "active"))
                    _ = try await xlRun(migrateArguments(domain: vm.name, targetAddress: target.address), side: .source)
                    continuation.yield(MigrationProgress(status: "completed"))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    @discardableResult
    package func resume(_ instance: VMInstance) async throws -> Double? {
        _ = try await xlRun(remoteArguments(address: instance.address, ["unpause", instance.controlPath]), side: .target)
        return nil // xl does not report when the domain resumed
    }

    package func pause(_ instance: VMInstance) async throws {
        _ = try await xlRun(remoteArguments(address: instance.address, ["pause", instance.controlPath]), side: .source)
    }

    package func cancel(from source: VMInstance) async throws {
        if await state(of: source) == .paused {
            _ = try await xlRun(remoteArguments(address: source.address, ["unpause", source.controlPath]), side: .source)
        }
    }

    package func state(of instance: VMInstance) async -> VMRunState {
        guard (try? requireDom0()) != nil else { return .absent }
        guard let out = try? await runner.run(remoteArguments(address: instance.address, ["list", instance.controlPath])),
              out.status == 0, let domain = try? Self.parseList(out.stdout).first
        else { return .absent }
        return Self.runState(flags: domain.state)
    }

    package func stop(_ instance: VMInstance) async throws {
        if await state(of: instance).hasProcess {
            _ = try await xlRun(remoteArguments(address: instance.address, ["destroy", instance.controlPath]), side: .source)
        }
    }
}
