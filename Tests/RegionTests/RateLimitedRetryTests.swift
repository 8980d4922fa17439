import RegionProtocol
import Synchronization
import Testing

/// A refusal over a request budget is asked again a little later; any other answer is final.
@Suite("Rate-limited retry")
struct RateLimitedRetryTests {
    static func refusal(_ code: String) -> RegionClient.Failure { .init(code: code, message: "test", status: code == RateLimitedRetry.code ? 429 : 400) }

    @Test func aRateLimitedRequestIsAskedAgainUntilItGoesThrough() async throws {
        let tries = Mutex(0)
        // Patience far beyond any stall of a loaded machine: only the refusals decide how often it asks.
        let answer = try await RateLimitedRetry.run(patience: .seconds(3600), pause: .milliseconds(10)) { () throws -> String in
            let n = tries.withLock { $0 += 1; return $0 }
            if n < 3 { throw Self.refusal(RateLimitedRetry.code) }
            return "answered"
        }
        #expect(answer == "answered")
        #expect(tries.withLock { $0 } == 3)
    }

    @Test func anyOtherRefusalIsFinal() async {
        let tries = Mutex(0)
        let thrown = await #expect(throws: RegionClient.Failure.self) {
            try await RateLimitedRetry.run(patience: .seconds(60), pause: .milliseconds(10)) { () throws -> Int in
                tries.withLock { $0 += 1 }
                throw Self.refusal("enrol.unknown-host")
            }
        }
        #expect(thrown?.code == "enrol.unknown-host")
        #expect(tries.withLock { $0 } == 1)
    }

    /// What the caller names besides the budget's refusal is waited out the same way (an enrolment's later round
    /// waiting for the region's next leader); the rest stays final.
    @Test func whatTheCallerNamesIsWaitedOutToo() async throws {
        let tries = Mutex(0)
        let answer = try await RateLimitedRetry.run(patience: .seconds(3600), pause: .milliseconds(10),
                                                    alsoWhile: { $0.code == "rctcb.not-leader" }) { () throws -> String in
            let n = tries.withLock { $0 += 1; return $0 }
            if n == 1 { throw Self.refusal("rctcb.not-leader") }
            if n == 2 { throw Self.refusal(RateLimitedRetry.code) }
            return "answered"
        }
        #expect(answer == "answered" && tries.withLock { $0 } == 3)
        let thrown = await #expect(throws: RegionClient.Failure.self) {
            try await RateLimitedRetry.run(patience: .seconds(3600), pause: .milliseconds(10),
                                           alsoWhile: { $0.code == "rctcb.not-leader" }) { () throws -> Int in
                throw Self.refusal("transport.unreachable")
            }
        }
        #expect(thrown?.code == "transport.unreachable")
    }

    @Test func itGivesUpWhenItsPatienceIsSpent() async {
        let tries = Mutex(0)
        let thrown = await #expect(throws: RegionClient.Failure.self) {
            try await RateLimitedRetry.run(patience: .milliseconds(50), pause: .milliseconds(20)) { () throws -> Int in
                tries.withLock { $0 += 1 }
                throw Self.refusal(RateLimitedRetry.code)
            }
        }
        #expect(thrown?.code == RateLimitedRetry.code)
        #expect((2...3).contains(tries.withLock { $0 }), "\(tries.withLock { $0 })")
    }

    /// Each refusal doubles the wait before the next try, up to the longest pause: a rack refused together asks less
    /// and less often. Only lower bounds are checked (a sleep never ends early; a loaded machine may make it longer).
    @Test func theWaitDoublesUpToTheLongestPause() async throws {
        let times = Mutex<[ContinuousClock.Instant]>([])
        _ = try await RateLimitedRetry.run(patience: .seconds(3600), pause: .milliseconds(20), maxPause: .milliseconds(80)) { () throws -> Int in
            let n = times.withLock { $0.append(.now); return $0.count }
            if n < 6 { throw Self.refusal(RateLimitedRetry.code) }
            return n
        }
        let t = times.withLock { $0 }
        let gaps = zip(t.dropFirst(), t).map { $0 - $1 }
        #expect(gaps.count == 5)
        for (gap, least) in zip(gaps, [20, 40, 80, 80, 80]) { #expect(gap >= .milliseconds(least), "\(gaps)") }
    }
}
