import DurationUnits

/// Operations per second of `body` over about `seconds` (called in batches of 64 with a running index); nil if
/// any call returned false. Shared by the benchmarks that alternate a baseline with what it is compared to.
func operationsPerSecond(seconds: Double, _ body: (Int) -> Bool) -> Double? {
    let clock = ContinuousClock()
    let start = clock.now
    let deadline = start + .milliseconds(Int(seconds * 1000))
    var n = 0
    var ok = true
    while clock.now < deadline {
        for _ in 0..<64 { ok = body(n) && ok; n += 1 }
    }
    guard ok else { return nil }
    return Double(n) / (clock.now - start).inSeconds
}

/// The nearest-rank percentile `p` (0…1) of `sorted` (ascending, not empty): the smallest value at or above which
/// lies a fraction `p` of the values.
func nearestRank(_ sorted: [Double], _ p: Double) -> Double {
    sorted[min(sorted.count - 1, max(0, Int((p * Double(sorted.count)).rounded(.up)) - 1))]
}

/// How long a run lasts and how often it is repeated: `bench verify` and `bench bootlog` alternate their runs
/// `rounds` times, `seconds` each, and keep the best round of each.
package struct BenchmarkTiming: Sendable {
    package var seconds: Double
    package var rounds: Int

    package init(seconds: Double, rounds: Int) {
        self.seconds = seconds
        self.rounds = rounds
    }
}

/// The build the figures come from ("debug" or "release"): every report names it, since a debug build's
/// figures say little.
package enum BenchmarkBuild {
    #if DEBUG
    package static let name = "debug"
    #else
    package static let name = "release"
    #endif
}
