/// What a caller does with `request.rate-limited` (HTTP 429, `Retry-After: 1`): the same request again a little later.
/// For requests that are rare and must go through (enrolment: a rack of hosts behind one address may enrol at
/// once); the agent's ring duty does not wait in place, it asks again at its next round.
package enum RateLimitedRetry {
    /// The code of a refusal over a request budget.
    package static let code = "request.rate-limited"

    /// Runs `body`, and again while it is refused with ``code``: first after `pause`, then after twice as long each
    /// time up to `maxPause` (each wait up to half of it more, so callers refused together do not come back together,
    /// and a herd of them asks less often the longer it waits), until `patience` has passed since the first try; then
    /// the last refusal is thrown. `alsoWhile` names other failures waited out the same way (an enrolment that starts
    /// again after its RC-TCB went away waits for the region's next leader). Any other error is thrown at once.
    package static func run<T>(patience: Duration = .seconds(600), pause: Duration = .seconds(1), maxPause: Duration = .seconds(8),
                               alsoWhile: (RegionClient.Failure) -> Bool = { _ in false },
                               _ body: () async throws -> T) async throws -> T {
        let clock = ContinuousClock()
        let deadline = clock.now + patience
        var next = pause
        while true {
            do {
                return try await body()
            } catch let f as RegionClient.Failure where f.code == code || alsoWhile(f) {
                let wait = next + next * Double.random(in: 0..<0.5)
                guard clock.now + wait <= deadline else { throw f }
                try await Task.sleep(for: wait)
                next = min(next * 2, maxPause)
            }
        }
    }
}
