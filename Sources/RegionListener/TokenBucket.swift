import DurationUnits

/// One peer's request budget: a bucket of at most `size` tokens, refilled at `perSecond`, one token per request.
/// A peer that stays under the rate is never refused; one that was quiet may send up to `size` at once. The region's
/// listeners keep one per peer identity: the RC-TCB per agent certificate and per address asking to enrol
/// (`RequestBudget`), an agent's quote endpoint per caller (`QuoteAdmission`).
package struct TokenBucket: Sendable, Hashable {
    package private(set) var tokens: Double
    /// When the tokens were last counted.
    package private(set) var refilled: ContinuousClock.Instant

    /// A full bucket at `now`.
    package init(size: Double, at now: ContinuousClock.Instant) {
        tokens = size
        refilled = now
    }

    /// Adds what `perSecond` gives back since the last count, up to `size`. A `now` before the last count adds
    /// nothing and leaves that count's time as it is.
    package mutating func refill(size: Double, perSecond: Double, now: ContinuousClock.Instant) {
        guard refilled < now else { return }
        tokens = min(size, tokens + (now - refilled).inSeconds * perSecond)
        refilled = now
    }

    /// Takes one request's token; false, and nothing taken, when less than one is left.
    package mutating func take() -> Bool {
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }

    /// True when the bucket is full by `now`: such a bucket and none are the same, so its peer can be forgotten.
    package func isFull(size: Double, perSecond: Double, at now: ContinuousClock.Instant) -> Bool {
        var b = self
        b.refill(size: size, perSecond: perSecond, now: now)
        return b.tokens >= size
    }
}
