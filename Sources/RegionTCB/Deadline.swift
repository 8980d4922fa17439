import Synchronization

/// A bound on how long the caller waits for an operation, for operations that do not end on cancellation: a query
/// on a connection whose peer went silent waits for TCP to give up (minutes), and awaiting a task's value cannot be
/// cancelled. The operation runs in a task of its own; the caller gets its result, or `timeout` once `limit` has
/// passed, whichever comes first. On the timeout the operation's task is cancelled and left to end by itself: what
/// it was doing may still complete afterwards (a write's outcome is unknown to the caller, as with a connection
/// lost after the commit was sent). The limit is kept by the process's one ``DeadlineSweeper``, not a timer per call.
package enum Deadline {

    /// `sweeper`: who keeps the limit (tests give one of their own).
    package static func run<T: Sendable>(within limit: Duration, timeout: @escaping @Sendable () -> any Error, sweeper: DeadlineSweeper = .shared,
                                         _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = Race<T>(sweeper)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                race.start(continuation, limit: limit, timeout: timeout, body)
            }
        } onCancel: {
            race.finish(.failure(CancellationError()))
        }
    }

    /// One operation against its timer: the first outcome resumes the caller and cancels the other side.
    final class Race<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var work: Task<Void, Never>?
            var timer: UInt64?
            var outcome: Result<T, any Error>?
        }
        private let state = Mutex(State())
        private let sweeper: DeadlineSweeper

        init(_ sweeper: DeadlineSweeper) { self.sweeper = sweeper }

        func start(_ continuation: CheckedContinuation<T, any Error>, limit: Duration, timeout: @escaping @Sendable () -> any Error,
                   _ body: @escaping @Sendable () async throws -> T) {
            // A cancellation that came first has left its outcome: answer at once.
            let early: Result<T, any Error>? = state.withLock { s in
                if let o = s.outcome { return o }
                s.continuation = continuation
                return nil
            }
            if let early { return continuation.resume(with: early) }
            let timer = sweeper.schedule(at: .now + limit) { self.finish(.failure(timeout())) }
            let work = Task {
                do { self.finish(.success(try await body())) } catch { self.finish(.failure(error)) }
            }
            let done = state.withLock { s in
                (s.work, s.timer) = (work, timer)
                return s.outcome != nil
            }
            if done { work.cancel(); sweeper.cancel(timer) }
        }

        /// The first call decides; later ones do nothing.
        func finish(_ outcome: Result<T, any Error>) {
            let (continuation, work, timer): (CheckedContinuation<T, any Error>?, Task<Void, Never>?, UInt64?) = state.withLock { s in
                guard s.outcome == nil else { return (nil, nil, nil) }
                s.outcome = outcome
                defer { (s.continuation, s.work, s.timer) = (nil, nil, nil) }
                return (s.continuation, s.work, s.timer)
            }
            work?.cancel()
            if let timer { sweeper.cancel(timer) }
            continuation?.resume(with: outcome)
        }
    }
}
