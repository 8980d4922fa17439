package import ArgumentParser
import Benchmarks
import Foundation

/// `smig-attest bench verify`: full quote verification against raw signature verification, same run
/// (``VerifyBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchVerify: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Full quote verification vs raw signature verification of the same messages and keys.",
        discussion: """
        Takes real quotes from a TPM (a temporary swtpm unless --tcti is given) with an ECC P-256 and an RSA-2048 \
        AK, then measures, alternating in the same process: 'raw' — the signature check alone over the attest \
        bytes with a pre-parsed key and signature (swift-crypto); 'full' — everything `smig-attest verify` does \
        from bytes: parse TPM2B_PUBLIC and check the AK, parse TPMS_ATTEST and TPMT_SIGNATURE, verify, and check \
        magic, type, nonce, banks, selection, PCR digest and clock; 'full, enrolled AK' — the same with the AK \
        parsed once, as the RC-TCB holds an enrolled host's key. The ratios are the cost of the checks. \
        Run it from a release build (swift build -c release) for meaningful figures.
        """)

    @Option(help: "TCTI of the TPM to take quotes from (default: start a temporary swtpm).") public var tcti: String?
    @Option(help: "Distinct quotes per key.") package var quotes: Int = 16
    @OptionGroup package var timing: BenchTimingOptions
    @OptionGroup package var output: OutputOptions

    package init() {}

    package func validate() throws {
        guard (1...1000).contains(quotes) else { throw ValidationError("--quotes must be 1-1000") }
    }

    package func run() throws {
        try reportingErrors {
            let report = try benchmarkFailures { try VerifyBenchmark.run(tcti: tcti, quotes: quotes, timing: timing.timing) }
            if output.json { Output.json(report); return }
            Output.line("bench verify (\(report.build) build, quotes from \(report.tpm), best of \(timing.rounds) × \(timing.seconds)s)")
            Output.line(Output.table(
                ["key", "raw verif/s", "full verif/s", "full/raw", "full, enrolled AK", "enrolled/raw"],
                report.rows.map { r in
                    [r.key, String(format: "%.0f", r.rawPerSecond), String(format: "%.0f", r.fullPerSecond),
                     String(format: "%.1f%%", r.ratio * 100), String(format: "%.0f", r.fullEnrolledKeyPerSecond),
                     String(format: "%.1f%%", r.enrolledRatio * 100)]
                }))
            Output.line("full: AK TPM2B_PUBLIC, TPMS_ATTEST and TPMT_SIGNATURE parsed and every check made on each verification;")
            Output.line("full, enrolled AK: the same with the AK parsed once, as the RC-TCB holds an enrolled host's key.")
        }
    }
}
