/// Runs an external command. The Xen driver takes one so tests can check exact argument
/// vectors without a Xen host.
public protocol CommandRunner: Sendable {
    func run(_ argv: [String]) async throws -> CommandOutput
}

public struct CommandOutput: Sendable, Hashable {
    public var status: Int32
    public var stdout: String
    public var stderr: String

    public init(status: Int32, stdout: String = "", stderr: String = "") {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs commands for real, each bounded by `timeout`.
public struct SystemCommandRunner: CommandRunner {
    public var timeout: Duration

    public init(timeout: Duration = .seconds(600)) {
        self.timeout = timeout
    }

    public func run(_ argv: [String]) async throws -> CommandOutput {
        let out = try await ProcessSupport.run(argv, timeout: timeout)
        return CommandOutput(status: out.status, stdout: out.stdout, stderr: out.stderr)
    }
}
