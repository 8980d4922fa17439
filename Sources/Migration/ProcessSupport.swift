#if canImport(Glibc)
import Glibc
#endif
import ChildProcesses
import Foundation

/// Small, bounded helpers around OS processes: run a command, read pid files, check and
/// stop a process we launched earlier (possibly from another, now dead, orchestrator).
package enum ProcessSupport {
    struct Output: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs `argv` (argv[0] is a path or a name looked up in PATH), waits at most `timeout`.
    ///
    /// Spawned with posix_spawn in a new session, default signal mask and dispositions, stdin
    /// from /dev/null and output to files: a daemon that forks off (QEMU `-daemonize`) keeps
    /// nothing of ours, and we reap the direct child ourselves with waitpid.
    /// `environment`: variables set for the command on top of this process's own.
    static func run(_ argv: [String], timeout: Duration = .seconds(60), environment: [String: String] = [:]) async throws -> Output {
        guard let first = argv.first else { throw MigrationError(.invalidArgument, "empty command") }
        guard let exe = resolve(first) else {
            throw MigrationError(.hypervisorMissing, "\(first): not found in PATH")
        }
        let tmp = FileManager.default.temporaryDirectory.path
        let id = UUID().uuidString
        let outPath = "\(tmp)/smig-\(id).out"
        let errPath = "\(tmp)/smig-\(id).err"
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let pid = try spawn(exe, Array(argv.dropFirst()), stdoutPath: outPath, stderrPath: errPath, environment: environment)
        let deadline = ContinuousClock.now + timeout
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { break }
            if rc < 0 && errno != EINTR {
                throw MigrationError(.launchFailed, "waitpid(\(pid)) for \(first): \(String(cString: strerror(errno)))")
            }
            if ContinuousClock.now >= deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw MigrationError(.launchFailed, "\(first) did not finish within \(timeout)")
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        // Exit code, or 128 + signal number when killed by a signal.
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        return Output(status: code, stdout: out, stderr: err)
    }

    /// Sets FD_CLOEXEC on every descriptor above 2 of this process.
    private static func markCloseOnExec() {
        guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") else { return }
        for name in fds {
            guard let fd = Int32(name), fd > 2 else { continue }
            let flags = fcntl(fd, F_GETFD)
            if flags >= 0, flags & FD_CLOEXEC == 0 { _ = fcntl(fd, F_SETFD, flags | FD_CLOEXEC) }
        }
    }

    /// glibc's POSIX_SPAWN_SETSID (0x80, glibc >= 2.26; hidden behind _GNU_SOURCE in the headers).
    private static let spawnSetsid: Int32 = 0x80

    private static func spawn(_ exe: String, _ args: [String], stdoutPath: String, stderrPath: String, environment: [String: String] = [:]) throws -> Int32 {
        try spawn(exe, args, io: [.file("/dev/null", O_RDONLY), .file(stdoutPath, O_WRONLY | O_CREAT | O_TRUNC), .file(stderrPath, O_WRONLY | O_CREAT | O_TRUNC)],
                  environment: environment)
    }

    /// Where a started process's standard input, output or error comes from.
    package enum Redirect: Sendable {
        /// A file opened with these flags (created 0600).
        case file(String, Int32)
        /// A descriptor of this process (duplicated; this process keeps its own).
        case descriptor(Int32)
    }

    /// Starts `argv` (argv[0] a path or a name looked up in PATH) with its standard input, output and error from `io`,
    /// as ``run(_:timeout:environment:)`` does (own session, default signal mask and dispositions: a child started
    /// from a thread that blocks signals, as the concurrency pool's do, would otherwise inherit the blocked mask and
    /// never see its own children exit). The caller reaps it (``exitStatus(of:)``).
    package static func start(_ argv: [String], stdin: Redirect, stdout: Redirect, stderr: Redirect, environment: [String: String] = [:]) throws -> Int32 {
        guard let first = argv.first else { throw MigrationError(.invalidArgument, "empty command") }
        guard let exe = resolve(first) else { throw MigrationError(.hypervisorMissing, "\(first): not found in PATH") }
        return try spawn(exe, Array(argv.dropFirst()), io: [stdin, stdout, stderr], environment: environment)
    }

    /// Waits until the process `pid` (a child started here) has exited; its exit code, or 128 + the signal's number.
    package static func exitStatus(of pid: Int32) async -> Int32 {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { break }
            if rc < 0 && errno != EINTR { return 255 }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    private static func spawn(_ exe: String, _ args: [String], io: [Redirect], environment: [String: String]) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        var attr = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attr)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attr)
        }
        for (target, redirect) in zip(Int32(0)..., io) {
            switch redirect {
            case .file(let path, let flags): posix_spawn_file_actions_addopen(&actions, target, path, flags, 0o600)
            case .descriptor(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        // Nothing else of ours reaches the child (and the daemon it leaves behind): an inherited descriptor —
        // such as the socket our own parent watches to learn that we exited — would outlive us in QEMU.
        markCloseOnExec()
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | Self.spawnSetsid))
        let cArgs: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        let rc: Int32
        if environment.isEmpty {
            rc = posix_spawn(&pid, exe, &actions, &attr, cArgs, environ)
        } else {
            var merged = ProcessInfo.processInfo.environment
            merged.merge(environment) { $1 }
            let cEnv: [UnsafeMutablePointer<CChar>?] = merged.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { for p in cEnv { free(p) } }
            rc = posix_spawn(&pid, exe, &actions, &attr, cArgs, cEnv)
        }
        guard rc == 0 else {
            throw MigrationError(.launchFailed, "cannot run \(exe): \(String(cString: strerror(rc)))")
        }
        return pid
    }

    /// One readable line for a Foundation file error ("Not a directory"), not an NSError dump.
    static func describe(_ error: any Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? any Error {
            let u = underlying as NSError
            if u.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(u.code))) }
        }
        if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
        return "\(error)"
    }

    /// Full path of an executable: as given if it contains "/", else searched in PATH.
    package static func resolve(_ name: String) -> String? {
        if name.contains("/") {
            return FileManager.default.isExecutableFile(atPath: name) ? name : nil
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The pid in `pidFile`, if the file holds a plausible one.
    static func readPid(_ pidFile: String) -> Int32? {
        guard let data = FileManager.default.contents(atPath: pidFile), data.count < 64,
              let text = String(data: data, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 1
        else { return nil }
        return pid
    }

    /// True if `pid` is alive (not a zombie) and its command line contains `marker`
    /// (guards against a recycled pid).
    static func isAlive(_ pid: Int32, marker: String) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let rest = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
            if rest.hasPrefix("Z") || rest.hasPrefix("X") { return false }
        }
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let cmdline = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return cmdline.contains(marker)
    }

    /// The live pid recorded in `pidFile` whose command line contains `marker`.
    static func livePid(pidFile: String, marker: String) -> Int32? {
        guard let pid = readPid(pidFile), isAlive(pid, marker: marker) else { return nil }
        return pid
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL and wait again. Returns when gone. The process is ours while its
    /// command line holds `marker` (a recycled pid is left alone).
    static func terminate(_ pid: Int32, marker: String, grace: Duration = .seconds(3)) async {
        await Termination.terminate(pid, grace: grace) { isAlive(pid, marker: marker) }
    }

    /// True if something accepts TCP connections on address:port, or the port cannot be bound.
    static func portInUse(address: String, port: Int) -> Bool {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return true }
        defer { _ = Glibc.close(s) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(truncatingIfNeeded: port).bigEndian)
        guard inet_pton(AF_INET, address, &addr.sin_addr) == 1 else { return true }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return rc != 0
    }
}
