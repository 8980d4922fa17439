import Synchronization

/// The pause between two leadership rounds, which a released lease ends early: ``wait(upTo:)`` returns after the
/// duration, on ``wake()``, or when its task is cancelled, whichever comes first. A wake-up while nobody waits ends
/// the next wait at once.
final class RoundWakeup: Sendable {
    private struct Waiting {
        var continuation: CheckedContinuation<Void, Never>?
        /// Which wait the continuation belongs to: a timer of an earlier wait ends nothing.
        var generation = 0
        var pending = false
    }

    private let state = Mutex(Waiting())

    func wait(upTo duration: Duration) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let generation: Int? = state.withLock { s in
                    if s.pending {
                        s.pending = false
                        return nil
                    }
                    s.generation += 1
                    s.continuation = c
                    return s.generation
                }
                guard let generation else { return c.resume() }
                Task {
                    try? await Task.sleep(for: duration)
                    self.end(generation)
                }
            }
        } onCancel: {
            end(nil)
        }
    }

    func wake() {
        let c = state.withLock { s in
            guard let c = s.continuation else {
                s.pending = true
                return nil as CheckedContinuation<Void, Never>?
            }
            s.continuation = nil
            return c
        }
        c?.resume()
    }

    /// Ends the wait `generation` (nil: whichever is under way).
    private func end(_ generation: Int?) {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard generation == nil || generation == s.generation, let c = s.continuation else { return nil }
            s.continuation = nil
            return c
        }
        c?.resume()
    }
}
