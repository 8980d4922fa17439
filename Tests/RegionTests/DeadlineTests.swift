import RegionTCB
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
