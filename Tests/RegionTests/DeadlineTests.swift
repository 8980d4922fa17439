import RegionTCB
import Synchronization
import Testing

/// ``Deadline``: the caller gets the operation's outcome, or the timeout error while the operation still waits
/// (an operation that ignores cancellation, as a query on a silent connection does), and the operation is left to
/// end by itself.
@Suite("Deadline")
struct DeadlineTests {
    struct Late: Error {}
    struct Failed: Error {}

    @Test func theOperationsOutcomeWhenItAnswers() async throws {
        let value = try await Deadline.run(within: .seconds(3600), timeout: { Late() }) { 42 }
        #expect(value == 42)
        await #expect(throws: Failed.self) {
            try await Deadline.run(within: .seconds(3600), timeout: { Late() }) { () async throws -> Int in throw Failed() }
        }
    }

    /// Opens once; its waiters do not end on cancellation.
    actor Gate {
        var waiters: [CheckedContinuation<Void, Never>] = []
        var opened = false
        func wait() async {
            if opened { return }
            await withCheckedContinuation { waiters.append($0) }
        }
        func open() {
            opened = true
            for w in waiters { w.resume() }
            waiters = []
        }
    }

    @Test func theTimeoutWhileTheOperationStillWaits() async throws {
        let gate = Gate(), ended = Gate()
        await #expect(throws: Late.self) {
            try await Deadline.run(within: .milliseconds(1), timeout: { Late() }) {
                await gate.wait()
                await ended.open()
                return 1
            }
        }
        #expect(await !ended.opened)
        // The abandoned operation ends once what it waited for comes.
        await gate.open()
        await ended.wait()
    }
}

/// ``DeadlineSweeper``: the one thread that keeps every deadline of the process. Each test has a sweeper of its own.
@Suite("Deadline sweeper", .timeLimit(.minutes(10)))
struct DeadlineSweeperTests {
    /// Records what fired, in order.
    final class Fired: Sendable {
        let names = Mutex<[String]>([])
        func add(_ name: String) { names.withLock { $0.append(name) } }
    }

    /// Waits, without holding a cooperative thread for long, until `condition` holds (a generous bound).
    static func eventually(_ condition: () -> Bool) async throws {
        for _ in 0..<600 where !condition() { try await Task.sleep(for: .milliseconds(50)) }
    }

    @Test func deadlinesFireInTheirOrderWhateverTheOrderTheyCameIn() async throws {
        let sweeper = DeadlineSweeper(), fired = Fired()
        let start = ContinuousClock.now
        let firstAt = Mutex<Duration?>(nil)
        // The sweeper sleeps until the first one registered; the later registrations are earlier and must wake it.
        _ = sweeper.schedule(at: start + .seconds(3)) { fired.add("third") }
        _ = sweeper.schedule(at: start + .milliseconds(300)) { fired.add("second") }
        _ = sweeper.schedule(at: start + .milliseconds(100)) {
            firstAt.withLock { $0 = ContinuousClock.now - start }
            fired.add("first")
        }
        try await Self.eventually { fired.names.withLock { $0.count } == 3 }
        #expect(fired.names.withLock { $0 } == ["first", "second", "third"])
        // Not held back until the deadline the sweeper was asleep for.
        let first = try #require(firstAt.withLock { $0 })
        #expect(first >= .milliseconds(100) && first < .seconds(3))
        #expect(ContinuousClock.now - start >= .seconds(3))
        #expect(sweeper.pending == 0)
    }

    @Test func aCancelledDeadlineNeverFires() async throws {
        let sweeper = DeadlineSweeper(), fired = Fired()
        let start = ContinuousClock.now
        let cancelled = sweeper.schedule(at: start + .milliseconds(100)) { fired.add("cancelled") }
        _ = sweeper.schedule(at: start + .milliseconds(400)) { fired.add("kept") }
        sweeper.cancel(cancelled)
        #expect(sweeper.pending == 1)
        try await Self.eventually { fired.names.withLock { $0.count } == 1 }
        // Well past both deadlines: only the one not cancelled has fired.
        try await Task.sleep(for: .milliseconds(300))
        #expect(fired.names.withLock { $0 } == ["kept"])
        #expect(sweeper.pending == 0)
        // Cancelling what has fired does nothing.
        sweeper.cancel(cancelled)
        #expect(sweeper.pending == 0)
    }

    /// An operation that answers first, fails or times out leaves nothing registered: the sweeper does not grow with
    /// the operations it has seen.
    @Test func noOutcomeLeavesADeadlineBehind() async throws {
        let sweeper = DeadlineSweeper()
        for i in 0..<20 {
            #expect(try await Deadline.run(within: .seconds(3600), timeout: { DeadlineTests.Late() }, sweeper: sweeper) { i } == i)
        }
        #expect(sweeper.pending == 0)
        await #expect(throws: DeadlineTests.Failed.self) {
            try await Deadline.run(within: .seconds(3600), timeout: { DeadlineTests.Late() }, sweeper: sweeper) { () async throws -> Int in
                throw DeadlineTests.Failed()
            }
        }
        let gate = DeadlineTests.Gate()
        await #expect(throws: DeadlineTests.Late.self) {
            try await Deadline.run(within: .milliseconds(50), timeout: { DeadlineTests.Late() }, sweeper: sweeper) {
                await gate.wait()
                return 0
            }
        }
        #expect(sweeper.pending == 0)
        await gate.open()
        // A caller cancelled while its operation waits is answered with the cancellation, and its deadline goes too.
        let waiting = Task {
            try await Deadline.run(within: .seconds(3600), timeout: { DeadlineTests.Late() }, sweeper: sweeper) {
                await DeadlineTests.Gate().wait()
                return 0
            }
        }
        try await Self.eventually { sweeper.pending == 1 }
        waiting.cancel()
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(sweeper.pending == 0)
    }
}
