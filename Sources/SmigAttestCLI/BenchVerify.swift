package import ArgumentParser
import Swtpm
import Attestation
import Crypto
import _CryptoExtras
import Foundation
import TPM
import TPMWire

/// `smig-attest bench verify`: full quote verification against raw signature verification, same run.
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

    struct Row: Encodable {
        var key: String
        var quotes: Int
        var rawPerSecond: Double
        /// Everything from bytes, the AK's TPM2B_PUBLIC parsed on every verification.
        var fullPerSecond: Double
        var ratio: Double
        /// Everything from bytes but the AK, parsed once (an enrolled host's key, as the RC-TCB holds it).
        var fullEnrolledKeyPerSecond: Double
        var enrolledRatio: Double
    }

    struct Report: Encodable {
        var benchmark = "verify"
        var build: String
        var tpm: String
        var rows: [Row]
    }

    struct Sample {
        var attest: [UInt8]
        var signature: [UInt8]
        var nonce: [UInt8]
        var values: [[UInt8]]
    }

    package func run() throws {
        try reportingErrors {
            var swtpm: SoftwareTPM?
            defer { swtpm?.destroy() }
            let tctiString: String
            if let tcti {
                tctiString = tcti
            } else {
                let s = try SoftwareTPM()
                try s.start()
                swtpm = s
                tctiString = s.tcti
            }
            let device = try TPMDevice(tcti: tctiString)
            let selection = try PCRSelectionList(parsing: "sha256:0-7,15")
            var rows: [Row] = []
            for akType in [AKType.eccP256, .rsa2048] {
                let blob = try device.createAttestationKey(akType, under: .rsa2048)
                let samples: [Sample] = try device.withAttestationKey(blob) { ak in
                    try (0..<quotes).map { _ in
                        let nonce = try device.random(32)
                        let (q, v) = try device.quoteWithValues(with: ak, nonce: nonce, selection: selection)
                        return Sample(attest: q.attest, signature: q.signature, nonce: nonce, values: v.ordered)
                    }
                }
                let raw = try rawVerifier(blob.publicBytes, samples)
                let full: (Int) -> Bool = { i in
                    let s = samples[i % samples.count]
                    guard let key = try? AttestationKey(tpm2bPublic: blob.publicBytes) else { return false }
                    if case .valid = QuoteVerifier.verify(
                        attest: s.attest, signature: s.signature, key: key, pcrValues: s.values,
                        expected: QuoteExpectation(nonce: s.nonce, selection: selection)) { return true }
                    return false
                }
                let enrolledKey = try AttestationKey(tpm2bPublic: blob.publicBytes)
                let enrolled: (Int) -> Bool = { i in
                    let s = samples[i % samples.count]
                    if case .valid = QuoteVerifier.verify(
                        attest: s.attest, signature: s.signature, key: enrolledKey, pcrValues: s.values,
                        expected: QuoteExpectation(nonce: s.nonce, selection: selection)) { return true }
                    return false
                }
                guard (0..<samples.count).allSatisfy(raw), (0..<samples.count).allSatisfy(full),
                      (0..<samples.count).allSatisfy(enrolled) else {
                    throw CommandFailure("a quote taken for the benchmark does not verify")
                }
                var bestRaw = 0.0, bestFull = 0.0, bestEnrolled = 0.0
                for _ in 0..<timing.rounds {
                    guard let r = measure(raw), let f = measure(full), let e = measure(enrolled) else {
                        throw CommandFailure("a verification failed during the measured run")
                    }
                    bestRaw = max(bestRaw, r)
                    bestFull = max(bestFull, f)
                    bestEnrolled = max(bestEnrolled, e)
                }
                rows.append(Row(key: akType == .eccP256 ? "ECC P-256 / ECDSA-SHA256" : "RSA-2048 / RSASSA-SHA256",
                                quotes: samples.count, rawPerSecond: bestRaw.rounded(), fullPerSecond: bestFull.rounded(),
                                ratio: (bestFull / bestRaw * 1000).rounded() / 1000,
                                fullEnrolledKeyPerSecond: bestEnrolled.rounded(),
                                enrolledRatio: (bestEnrolled / bestRaw * 1000).rounded() / 1000))
            }
            #if DEBUG
            let build = "debug"
            #else
            let build = "release"
            #endif
            let report = Report(build: build, tpm: tctiString, rows: rows)
            if output.json { Output.json(report); return }
            Output.line("bench verify (\(build) build, quotes from \(tctiString), best of \(timing.rounds) × \(timing.seconds)s)")
            Output.line(Output.table(
                ["key", "raw verif/s", "full verif/s", "full/raw", "full, enrolled AK", "enrolled/raw"],
                rows.map { r in
                    [r.key, String(format: "%.0f", r.rawPerSecond), String(format: "%.0f", r.fullPerSecond),
                     String(format: "%.1f%%", r.ratio * 100), String(format: "%.0f", r.fullEnrolledKeyPerSecond),
                     String(format: "%.1f%%", r.enrolledRatio * 100)]
                }))
            Output.line("full: AK TPM2B_PUBLIC, TPMS_ATTEST and TPMT_SIGNATURE parsed and every check made on each verification;")
            Output.line("full, enrolled AK: the same with the AK parsed once, as the RC-TCB holds an enrolled host's key.")
        }
    }

    /// Signature verification alone: key and signature parsed once, outside the loop.
    func rawVerifier(_ publicBytes: [UInt8], _ samples: [Sample]) throws -> (Int) -> Bool {
        let area = try Public(wireBytes: publicBytes).publicArea
        let sigs = try samples.map { try Signature(wireBytes: $0.signature) }
        switch area.parameters {
        case .ecc(_, _, _, _, let x, let y):
            let key = try P256.Signing.PublicKey(x963Representation: [0x04] + x + y)
            let parsed: [P256.Signing.ECDSASignature] = try sigs.map {
                guard case .ecdsa(_, let r, let s) = $0 else { throw CommandFailure("not ECDSA") }
                return try P256.Signing.ECDSASignature(rawRepresentation: pad(r, 32) + pad(s, 32))
            }
            return { i in key.isValidSignature(parsed[i % parsed.count], for: samples[i % samples.count].attest) }
        case .rsa(_, _, _, _, let modulus):
            let key = try _RSA.Signing.PublicKey(n: modulus, e: [1, 0, 1])
            let parsed: [_RSA.Signing.RSASignature] = try sigs.map {
                guard case .rsassa(_, let bytes) = $0 else { throw CommandFailure("not RSASSA") }
                return _RSA.Signing.RSASignature(rawRepresentation: bytes)
            }
            return { i in key.isValidSignature(parsed[i % parsed.count], for: samples[i % samples.count].attest, padding: .insecurePKCS1v1_5) }
        }
    }

    func pad(_ b: [UInt8], _ n: Int) -> [UInt8] { b.count >= n ? b : [UInt8](repeating: 0, count: n - b.count) + b }

    /// Operations per second of `body` over about `seconds`; nil if any call returned false.
    func measure(_ body: (Int) -> Bool) -> Double? { operationsPerSecond(seconds: timing.seconds, body) }
}
