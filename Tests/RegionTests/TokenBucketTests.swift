import RegionListener
import Testing

/// The request budget both listeners keep per peer.
@Suite("Token bucket")
struct TokenBucketTests {
    @Test func refillsAtItsRateUpToItsSize() {
        let t0 = ContinuousClock.now
        var b = TokenBucket(size: 3, at: t0)
        let taken = (0..<4).map { _ in b.take() }
        #expect(taken == [true, true, true, false])
        #expect(b.tokens == 0)
        b.refill(size: 3, perSecond: 4, now: t0 + .milliseconds(250))
        let again = (0..<2).map { _ in b.take() }
        #expect(again == [true, false])
        b.refill(size: 3, perSecond: 4, now: t0 + .seconds(100))
        #expect(b.tokens == 3)
        #expect(b.isFull(size: 3, perSecond: 4, at: t0 + .seconds(100)))
    }

    /// An instant before the last count (a caller's stale `now`) neither adds tokens nor moves the count back, so
    /// the time between them is not counted twice.
    @Test func anEarlierInstantAddsNothing() {
        let t0 = ContinuousClock.now
        var b = TokenBucket(size: 2, at: t0 + .seconds(10))
        let taken = (0..<2).map { _ in b.take() }
        #expect(taken == [true, true])
        b.refill(size: 2, perSecond: 1, now: t0)
        #expect(b.tokens == 0 && b.refilled == t0 + .seconds(10))
        #expect(!b.isFull(size: 2, perSecond: 1, at: t0 + .seconds(11)))
        #expect(b.isFull(size: 2, perSecond: 1, at: t0 + .seconds(12)))
    }
}
