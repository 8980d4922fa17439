#if canImport(Glibc)
import Glibc
#endif
import DurationUnits
import Foundation
package import Migration
package import RegionProtocol

/// A Xen dom0's toolstack as the host's VM manager: the agent runs `xl` as a subprocess (only the Measurement target
/// calls Xen's C libraries). Domains are reported from `xl list -l` and `xl list` (``XLDomains``); a VM moves live
/// with `xl migrate`, its stream carried between the agents by ``XLStream`` (no ssh keys between hosts), the
/// destination paused (`xl migrate-receive -p`) until the RC-TCB orders `resume` (`xl unpause`).
///
/// `prepareIncoming` starts `smig-attest agent xl-stream accept` on a fresh listening socket with a one-time token and
/// answers `xl-stream://HOST:PORT/TOKEN`; `migrate` runs `xl -vvv migrate -s "SELF agent xl-stream connect" -p VM
/// xl-stream://HOST:PORT` with the token in its environment, reading xl's messages as they come (``XLMigrationLog``:
/// the transfer's total time and the time from the source's suspension to the end, the downtime up to the paused
/// copy). xl has no cancel: `cancel` ends the transfer by stopping the connect helper, after which xl resumes the
/// source itself, and unpauses a source left paused.
package struct XLVMManager: HostVMManager {
    package var kind: String { "xl" }
    /// The xl executable (a path, or a name looked up in PATH).
    let xl: String
    /// The address other dom0s reach this one at for an incoming migration (the agent configuration's
    /// `migrationAddress`): the receiver listens there.
    let incomingHost: String
    /// This executable, which xl starts as its transport (`agent xl-stream connect`) and the target as its receiver.
    let helper: String
    /// Where the receivers' and migrations' messages are kept (`STATE/xl`).
    let logDirectory: String
    /// How long a prepared receiver waits for its stream.
    let receiveWindow: Duration
    let runner: any CommandRunner
    let streams: XLStreams

    package init(xl: String = "xl", incomingHost: String, helper: String = XLVMManager.ownExecutable, logDirectory: String,
                 receiveWindow: Duration = .seconds(600), runner: any CommandRunner = SystemCommandRunner(timeout: .seconds(120))) {
        self.xl = xl
        self.incomingHost = incomingHost
        self.helper = helper
        self.logDirectory = logDirectory
        self.receiveWindow = receiveWindow
        self.runner = runner
        streams = XLStreams()
    }

    /// This process's executable (`/proc/self/exe`).
    package static var ownExecutable: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    // MARK: Argument vectors (tested exactly)

    package func listArguments(long: Bool) -> [String] { long ? [xl, "list", "-l"] : [xl, "list"] }

    /// `xl -vvv migrate -s 'HELPER' agent xl-stream connect -p VM 'xl-stream://HOST:PORT'`. xl runs its transport as
    /// `sh -c "exec TRANSPORT HOST xl migrate-receive -p"`, so both the helper's path and the address are quoted for sh.
    package func migrateArguments(_ vm: String, to address: XLStream.Address) -> [String] {
        [xl, "-vvv", "migrate", "-s", "\(Self.shellQuoted(helper)) agent xl-stream connect", "-p", vm, Self.shellQuoted(address.withoutToken)]
    }

    /// The receiver a prepared target starts on its listening socket (standard input).
    package func acceptArguments() -> [String] {
        [helper, "agent", "xl-stream", "accept", "--xl", xl, "--window", "\(receiveWindow.components.seconds)"]
    }

    static func shellQuoted(_ word: String) -> String { "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'" }

    // MARK: HostVMManager

    package func vms() async throws -> [HostVM] {
        let json = try await xlOutput(listArguments(long: true))
        let table = try await xlOutput(listArguments(long: false))
        return try XLDomains.parse(json: json, table: table)
    }

    /// The state word of `vm` here, or nil when the host has no such domain.
    func state(_ vm: String) async throws -> String? {
        try await vms().first { $0.name == vm }?.state
    }

    package func prepareIncoming(_ vm: String) async throws -> String {
        if let state = try await state(vm) {
            throw MigrationOrderError(.failed, "a domain called \(vm) already runs on this host (\(state))")
        }
        let token = XLStream.newToken()
        let listener: (fd: Int32, port: Int)
        do { listener = try XLStream.listen(host: incomingHost) } catch {
            throw MigrationOrderError(.failed, "cannot take an incoming migration on \(incomingHost): \(error)")
        }
        let log = try logPath("receive-\(vm)")
        do {
            try streams.startReceiver(vm, acceptArguments(), listener: listener.fd, environment: [XLStream.tokenVariable: token], log: log)
        } catch {
            close(listener.fd)
            throw MigrationOrderError(.failed, "cannot start the receiver \(helper): \(error)")
        }
        close(listener.fd)
        return XLStream.Address(host: incomingHost, port: listener.port, token: token).description
    }

    package func migrate(_ vm: String, to address: String, tuning: MigrationOrder.Tuning?,
                         progress: @escaping @Sendable (MigrationOrderStatus.Progress) -> Void) async throws -> MigrationOrderStatus.Progress {
        let target = try XLStream.Address(parsing: address)
        guard let token = target.token else { throw MigrationOrderError(.malformed, "the migration address \(target.withoutToken) carries no token") }
        guard let before = try await state(vm) else { throw MigrationOrderError(.failed, "no domain called \(vm) on this host") }
        // A PV guest takes part in its own suspension (xl asks it through xenstore, after the live rounds): paused, it
        // cannot answer ('domain did not respond to suspend request'). So a paused domain runs for the migration,
        // arrives paused like any other, and is paused again here if the migration fails.
        let wasPaused = before == "paused"
        if wasPaused { _ = try await xlOutput([xl, "unpause", vm]) }
        progress(MigrationOrderStatus.Progress(status: "active"))
        let argv = migrateArguments(vm, to: target)
        let run = try await streams.runMigration(vm, argv, environment: [XLStream.tokenVariable: token], log: try logFile("migrate-\(vm)")) { lines in
            progress(XLMigrationLog(lines).progress(status: "active"))
        }
        let figures = XLMigrationLog(run.lines)
        guard run.status == 0, figures.succeeded else {
            if wasPaused, try await state(vm) != nil { _ = try? await xlOutput([xl, "pause", vm]) }
            throw MigrationOrderError(.failed, "xl migrate \(vm) → \(target.withoutToken) exit \(run.status): "
                                      + "\(figures.failure ?? figures.lastMessage ?? "no message")")
        }
        return figures.progress(status: "completed", totalTimeMs: UInt64(max(0, run.elapsed.wholeMilliseconds)))
    }

    package func resume(_ vm: String) async throws {
        guard let state = try await state(vm) else { throw MigrationOrderError(.failed, "no domain called \(vm) on this host") }
        if state == "paused" { _ = try await xlOutput([xl, "unpause", vm]) }
    }

    package func pause(_ vm: String) async throws {
        guard let state = try await state(vm) else { throw MigrationOrderError(.failed, "no domain called \(vm) on this host") }
        if state != "paused" { _ = try await xlOutput([xl, "pause", vm]) }
    }

    package func cancel(_ vm: String) async throws {
        streams.endMigration(vm)
        await streams.settleMigration(vm)
        if try await state(vm) == "paused" { _ = try await xlOutput([xl, "unpause", vm]) }
    }

    package func stop(_ vm: String) async throws {
        streams.endReceiver(vm)
        guard try await state(vm) != nil else { return }
        _ = try await xlOutput([xl, "destroy", vm])
    }

    // MARK: Running xl

    /// `argv`'s standard output; a non-zero exit is `order.failed` with xl's last message.
    func xlOutput(_ argv: [String]) async throws -> String {
        let out: CommandOutput
        do { out = try await runner.run(argv) } catch {
            throw MigrationOrderError(.failed, "\(argv.prefix(3).joined(separator: " ")): \(error)")
        }
        guard out.status == 0 else {
            let line = out.stderr.split(whereSeparator: \.isNewline).last.map(String.init) ?? "exit status \(out.status)"
            throw MigrationOrderError(.failed, "\(argv.dropFirst().prefix(2).joined(separator: " ")): \(line)")
        }
        return out.stdout
    }

    /// The path of the log `STATE/xl/NAME.log`, its directory made (kept: the last migration's messages stay for the
    /// operator).
    func logPath(_ name: String) throws -> String {
        do {
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw MigrationOrderError(.failed, "cannot keep xl's messages in \(logDirectory): \(error)")
        }
        return "\(logDirectory)/\(name).log"
    }

    /// A new log file `STATE/xl/NAME.log`.
    func logFile(_ name: String) throws -> FileHandle {
        let path = try logPath(name)
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]),
              let handle = FileHandle(forWritingAtPath: path) else {
            throw MigrationOrderError(.failed, "cannot keep xl's messages in \(path)")
        }
        return handle
    }
}
