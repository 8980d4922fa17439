import ChildProcesses
public import Foundation

/// A long-running program a test starts (the RC-TCB, an agent) with its output in a log file; stopped with
/// SIGTERM (then SIGKILL) when the test ends.
public final class Daemon: @unchecked Sendable {
    // @unchecked Sendable: `process` is set once in init; Process itself is thread-safe for these calls.
    public let process: Process
    public let log: URL

    public init(_ executable: String, _ args: [String], environment: [String: String] = [:], log: URL) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        p.environment = env
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        process = p
        self.log = log
    }

    deinit { stop() }

    public var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Waits until `file` holds a port number (the program writes it once listening), or fails after `seconds`.
    public func waitForPort(file: String, seconds: Double = 60) throws -> Int {
        if let port = PortFile.wait(file, writtenBy: process, within: .seconds(seconds)) { return port }
        guard process.isRunning else { throw DaemonFailure(description: "exited (\(process.terminationStatus)) before listening: \(output)") }
        throw DaemonFailure(description: "no port in \(file) after \(seconds) s: \(output)")
    }

    /// `signal` (SIGTERM), up to 5 s for an orderly exit, then SIGKILL; returns once the program has exited.
    public func stop(signal: Int32 = SIGTERM) { process.stop(signal: signal, grace: .seconds(5)) }
}

public struct DaemonFailure: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) { self.description = description }
}

/// Polls `condition` every 100 ms until it holds; fails (throws) after `seconds`. Async tests use this one: a
/// blocking wait would hold one of the few threads of Swift's cooperative pool, and with two cores two such
/// waits stall every other task of the test process (webhook deliveries, RC-TCB services) meanwhile.
public func waitUntilAsync(_ what: String, seconds: Double = 30, _ condition: () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(seconds)
    while true {
        // Checked once more after the deadline: a test starved of threads until then still sees the outcome.
        if try await condition() { return }
        if Date() >= deadline { break }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw DaemonFailure(description: "timed out after \(seconds) s waiting for \(what)")
}

/// Polls `condition` every 50 ms until it holds; fails (throws) after `seconds`. For synchronous code only.
public func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return }
        Thread.sleep(forTimeInterval: 0.05)
    }
    throw DaemonFailure(description: "timed out after \(seconds) s waiting for \(what)")
}
