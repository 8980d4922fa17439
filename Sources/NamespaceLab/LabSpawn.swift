#if canImport(Glibc)
import Glibc
#endif
package import Foundation

/// Runs a program with posix_spawn and reaps it with waitpid, polling without holding a thread: for programs that
/// start daemons of their own (the lab script, `libvirtd --daemon`, QEMU with -daemonize), so nothing depends on
/// Foundation's child-process bookkeeping. Output (stdout and stderr) goes through a file, never a pipe.
package enum LabSpawn {
    package struct Result: Sendable {
        package let status: Int32
        package let output: String
    }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        package init(description: String) { self.description = description }
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later; not in Swift's Glibc module): the child
    /// closes every descriptor from the given one up.
    static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// Runs `path args…` to the end; after `seconds` it is killed and this throws.
    package static func run(_ path: String, _ args: [String], seconds: Double = 600) async throws -> Result {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("smig-spawn-\(UUID().uuidString).out").path
        defer { unlink(out) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        // Nothing else of this process reaches the child, nor a daemon it leaves behind (pg_ctl's PostgreSQL, a
        // lab's libvirtd): an inherited socket (a TPM connection, whose swtpm serves one client at a time) would be
        // held open by the daemon after this process closed it, and the swtpm would wait on it for ever.
        guard let closeFrom = Self.addCloseFrom else {
            throw Failure(description: "posix_spawn_file_actions_addclosefrom_np is missing (glibc 2.34 or later is needed)")
        }
        _ = closeFrom(&actions, 3)
        let argv = ([path] + args).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard rc == 0 else { throw Failure(description: "posix_spawn \(path): \(String(cString: strerror(rc)))") }
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while waitpid(pid, &status, WNOHANG) == 0 {
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                throw Failure(description: "\(path) ran longer than \(Int(seconds)) s: \((try? String(contentsOfFile: out, encoding: .utf8)) ?? "")")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code, output: (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    /// ``run(_:_:seconds:)`` that throws, naming `what`, unless the program exits 0; returns its output.
    @discardableResult
    package static func check(_ what: String, _ path: String, _ args: [String], seconds: Double = 600) async throws -> String {
        let result = try await run(path, args, seconds: seconds)
        guard result.status == 0 else { throw Failure(description: "\(what) failed (\(result.status)): \(result.output)") }
        return result.output
    }
}
