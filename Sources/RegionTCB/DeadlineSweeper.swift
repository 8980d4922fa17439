import Foundation
import Synchronization

/// The one timer every ``Deadline`` of the process shares: a thread of its own that sleeps until the earliest
/// deadline registered and fires those that have passed. A deadline costs a registration and its removal when the
/// operation answers first; a task and a timer of its own per operation (a `Task.sleep` leaves its timer queued until
/// the limit runs out even when it is cancelled) cost the store's hot path more than its queries' own bookkeeping.
///
/// On a thread of its own, a deadline fires on time even while every cooperative thread is busy; what it fires (the
/// caller's answer) runs wherever the caller's continuation resumes.
package final class DeadlineSweeper: @unchecked Sendable {
    // @unchecked Sendable: `entries`, `next`, `wakeAt` and `started` are read and written only while `condition` is locked.
    package static let shared = DeadlineSweeper()

    /// A sweeper of its own (tests); the process's deadlines share ``shared``.
    package init() {}

    private let condition = NSCondition()
    private var entries: [UInt64: (at: ContinuousClock.Instant, fire: @Sendable () -> Void)] = [:]
    private var next: UInt64 = 0
    /// When the sweeping thread, asleep, wakes by itself (nil: none is registered, or it is not asleep).
    private var wakeAt: ContinuousClock.Instant?
    private var started = false

    /// Registers `fire` to run once `at` has passed, unless ``cancel(_:)`` comes first. Returns the registration's key.
    package func schedule(at: ContinuousClock.Instant, _ fire: @escaping @Sendable () -> Void) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        next += 1
        let key = next
        entries[key] = (at, fire)
        if !started {
            started = true
            let thread = Thread { [self] in sweep() }
            thread.name = "smig.deadlines"
            thread.start()
        } else if wakeAt.map({ at < $0 }) ?? true {
            // The thread sleeps until a later deadline, or until it is signalled: it must look again.
            condition.signal()
        }
        return key
    }

    /// Forgets a registration that has not fired; nothing when it has.
    package func cancel(_ key: UInt64) {
        condition.lock()
        entries[key] = nil
        condition.unlock()
    }

    /// TESTS ONLY: how many deadlines are registered and have neither fired nor been cancelled.
    package var pending: Int {
        condition.lock()
        defer { condition.unlock() }
        return entries.count
    }

    /// How long the thread waits with no deadline registered before it ends.
    static let idleExit: TimeInterval = 30

    private func sweep() {
        let clock = ContinuousClock()
        while true {
            condition.lock()
            var due: [(at: ContinuousClock.Instant, fire: @Sendable () -> Void)] = []
            while due.isEmpty {
                let now = clock.now
                for (key, e) in entries where e.at <= now {
                    due.append(e)
                    entries[key] = nil
                }
                if !due.isEmpty { break }
                wakeAt = entries.values.lazy.map(\.at).min()
                if let wakeAt {
                    let wait = now.duration(to: wakeAt)
                    _ = condition.wait(until: Date(timeIntervalSinceNow: Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18))
                } else if !condition.wait(until: Date(timeIntervalSinceNow: Self.idleExit)), entries.isEmpty {
                    // Nothing to keep for a while: the thread ends, and the next registration starts another.
                    started = false
                    condition.unlock()
                    return
                }
                wakeAt = nil
            }
            condition.unlock()
            for e in due.sorted(by: { $0.at < $1.at }) { e.fire() }
        }
    }
}
