internal import CodedError

/// Why a benchmark could not produce its figures: a stable code and a one-line reason. A benchmark whose runs
/// had errors still reports them (its rows count them); this is for a run that could not be made at all.
package struct BenchmarkError: CodedError {
    package struct Code: ErrorCode {
        package let rawValue: String
        package init(rawValue: String) { self.rawValue = rawValue }

        /// The boot log given to `bench bootlog` does not parse (an input error).
        package static let badBootLog = Code(rawValue: "bench.bad-boot-log")
        /// A quote, replay or digest taken as the benchmark's input does not check before the measured runs.
        package static let badSample = Code(rawValue: "bench.bad-sample")
        /// A check that passed before the measured runs failed during them.
        package static let checkFailedDuringRun = Code(rawValue: "bench.check-failed-during-run")
        /// The process may not open as many files as the benchmark needs connections.
        package static let tooFewDescriptors = Code(rawValue: "bench.too-few-descriptors")
        /// The benchmark's own RC-TCB process did not start.
        package static let rctcbDidNotStart = Code(rawValue: "bench.rctcb-did-not-start")
        /// The benchmark's RC-TCB process exited during a run: the run's figures would not be the RC-TCB's.
        package static let rctcbExited = Code(rawValue: "bench.rctcb-exited")
        /// `bench region --store postgresql` without `--store-url` could not start its throwaway PostgreSQL cluster.
        package static let postgresqlDidNotStart = Code(rawValue: "bench.postgresql-did-not-start")
        /// A trial of `bench response` did not see the whole response in time.
        package static let noResponse = Code(rawValue: "bench.no-response")
        /// `bench response`'s guest is on no host of its region.
        package static let guestLost = Code(rawValue: "bench.guest-lost")
        /// `bench failover`: the region did not act again (no new leader, verdict or evacuation step) in time.
        package static let noFailover = Code(rawValue: "bench.no-failover")
    }

    package let code: Code
    package let reason: String

    package init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// Whether what the user gave is at fault (exit status 2) rather than the run (1).
    package var isInputError: Bool { code == .badBootLog }

    package var description: String { "\(code): \(reason)" }
}
