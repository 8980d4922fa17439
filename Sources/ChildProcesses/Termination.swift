#if canImport(Glibc)
import Glibc
#endif
package import Foundation

/// Ending a process we started: a signal that asks for an orderly exit (SIGTERM), a grace period for it, then SIGKILL
/// and a bounded wait until it is gone. Written once for every child the toolkit supervises (the RC-TCB and agents of
/// the loopback region, swtpm, the benchmark's RC-TCB, QEMU by pid, the tests' daemons).
package enum Termination {
    /// How long to wait for a process to disappear after SIGKILL (a kill is not refused, but reaping takes a moment).
    package static let afterKill: Duration = .seconds(5)
    /// How often liveness is polled.
    static let poll: Duration = .milliseconds(20)

    /// Sends `signal` to `pid`, waits up to `grace` while `isAlive`, then SIGKILLs it and waits up to ``afterKill``.
    /// Blocks the calling thread: for synchronous code (a Ctrl-C handler, a deinit). A zero `grace` kills at once.
    package static func terminate(_ pid: pid_t, signal: Int32 = SIGTERM, grace: Duration, isAlive: () -> Bool) {
        guard isAlive() else { return }
        if grace > .zero { kill(pid, signal) }
        if !waitWhile(isAlive, for: grace) { return }
        kill(pid, SIGKILL)
        _ = waitWhile(isAlive, for: afterKill)
    }

    /// ``terminate(_:signal:grace:isAlive:)`` for async code: waits without holding a thread of the cooperative pool.
    package static func terminate(_ pid: pid_t, signal: Int32 = SIGTERM, grace: Duration, isAlive: () -> Bool) async {
        guard isAlive() else { return }
        if grace > .zero { kill(pid, signal) }
        if await !waitWhile(isAlive, for: grace) { return }
        kill(pid, SIGKILL)
        _ = await waitWhile(isAlive, for: afterKill)
    }

    /// Polls `condition` until it is false or `limit` has passed; true if it still holds.
    static func waitWhile(_ condition: () -> Bool, for limit: Duration) -> Bool {
        let deadline = ContinuousClock.now + limit
        while condition(), ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.02) }
        return condition()
    }

    static func waitWhile(_ condition: () -> Bool, for limit: Duration) async -> Bool {
        let deadline = ContinuousClock.now + limit
        while condition(), ContinuousClock.now < deadline { try? await Task.sleep(for: poll) }
        return condition()
    }
}

extension Process {
    /// Ends this child: `signal` (SIGTERM), up to `grace` for an orderly exit, then SIGKILL; returns once it has
    /// exited. Blocks the calling thread.
    package func stop(signal: Int32 = SIGTERM, grace: Duration) {
        guard isRunning else { return }
        Termination.terminate(processIdentifier, signal: signal, grace: grace) { isRunning }
        if isRunning { waitUntilExit() }
    }

    /// ``stop(signal:grace:)`` for async code.
    package func stop(signal: Int32 = SIGTERM, grace: Duration) async {
        await Termination.terminate(processIdentifier, signal: signal, grace: grace) { isRunning }
    }
}
