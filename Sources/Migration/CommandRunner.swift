/// Runs an external command. The Xen driver takes one so tests can check exact argument
/// vectors without a Xen host.
package protocol CommandRunner: Sendable {
    func run(_ argv: [String]) async throws -> CommandOutput
}

package struct CommandOutput: Sendable, Hashable {
    package var status: Int32
    package var stdout: String
    package var stderr: String

    package init(status: Int32, stdout: String = "", stderr: String = "") {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs commands for real, each bounded by `timeout`.
package struct SystemCommandRunner: CommandRunner {
    package var timeout: Duration

    package init(timeout: Duration = .seconds(600)) {
        self.timeout = timeout
    }

    package func run(_ argv: [String]) async throws -> CommandOutput {
        try await run(argv, environment: [:])
    }

    /// Runs `argv` (no shell) with `environment` set on top of this process's own.
    package func run(_ argv: [String], environment: [String: String]) async throws -> CommandOutput {
        let out = try await ProcessSupport.run(argv, timeout: timeout, environment: environment)
        return CommandOutput(status: out.status, stdout: out.stdout, stderr: out.stderr)
    }
}
