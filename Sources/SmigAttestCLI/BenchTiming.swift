package import ArgumentParser

/// Operations per second of `body` over about `seconds` (called in batches of 64 with a running index); nil if
/// any call returned false. Shared by the `bench` commands.
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
    let elapsed = clock.now - start
    let secs = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return Double(n) / secs
}

/// `--seconds` and `--rounds` of the `bench` commands that alternate a baseline with what it is compared to.
package struct BenchTimingOptions: ParsableArguments {
    @Option(help: "Seconds per measured run.") package var seconds: Double = 1.0
    @Option(help: "Alternating rounds of every run; the best round of each counts.") package var rounds: Int = 3

    package init() {}

    package func validate() throws {
        guard seconds > 0, seconds <= 60 else { throw ValidationError("--seconds must be in (0, 60]") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be 1-20") }
    }
}
