import Foundation

/// Runs blocking work for a test (swtpm's set-up, TPM commands through ESYS, which wait on swtpm's socket) on a
/// thread of its own; the calling task waits without holding a thread.
///
/// Swift's cooperative pool has one thread per core, two here, and Swift Testing starts every suite at once: a test
/// that blocks two of them for minutes (a thousand quotes in a row, swtpm set up for each of several hosts) stalls
/// every other test's task, and an asynchronous bound elsewhere in the process (a store opening, a deadline) runs
/// out without its work having been given a turn. `body` must not record issues (it runs outside the test's task):
/// it throws, or returns what the test then checks.
public func offPool<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.name = "test \(name)"
        thread.start()
    }
}
