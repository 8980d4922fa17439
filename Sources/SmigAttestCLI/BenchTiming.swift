package import ArgumentParser
import Benchmarks
import Foundation

/// `--seconds` and `--rounds` of the `bench` commands that alternate a baseline with what it is compared to.
package struct BenchTimingOptions: ParsableArguments {
    @Option(help: "Seconds per measured run.") package var seconds: Double = 1.0
    @Option(help: "Alternating rounds of every run; the best round of each counts.") package var rounds: Int = 3

    package init() {}

    package func validate() throws {
        guard seconds > 0, seconds <= 60 else { throw ValidationError("--seconds must be in (0, 60]") }
        guard (1...20).contains(rounds) else { throw ValidationError("--rounds must be 1-20") }
    }

    var timing: BenchmarkTiming { BenchmarkTiming(seconds: seconds, rounds: rounds) }
}

/// Runs a benchmark: a ``BenchmarkError`` becomes the CLI's one-line failure (status 2 for what the user gave,
/// else 1); every other error passes through to ``Output/failure(_:)``.
func benchmarkFailures<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as BenchmarkError { throw CommandFailure(e) }
}

/// The synchronous twin of the above.
func benchmarkFailures<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as BenchmarkError { throw CommandFailure(e) }
}

extension CommandFailure {
    init(_ e: BenchmarkError) { self.init(e.description, exitCode: e.isInputError ? 2 : 1) }
}
