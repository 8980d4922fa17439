import Attestation
import Crypto
import _CryptoExtras
import Foundation
import Swtpm
import TPM
import TPMWire

/// `bench verify`: full quote verification against raw signature verification of the same messages and keys,
/// on real quotes from a TPM (a temporary swtpm unless a TCTI is given), with an ECC P-256 and an RSA-2048 AK.
package enum VerifyBenchmark {
    package struct Row: Encodable, Sendable {
        package var key: String
        package var quotes: Int
        package var rawPerSecond: Double
        /// Everything from bytes, the AK's TPM2B_PUBLIC parsed on every verification.
        package var fullPerSecond: Double
        package var ratio: Double
        /// Everything from bytes but the AK, parsed once (an enrolled host's key, as the RC-TCB holds it).
        package var fullEnrolledKeyPerSecond: Double
        package var enrolledRatio: Double
    }

    package struct Report: Encodable, Sendable {
        package var benchmark = "verify"
        package var build: String
        package var tpm: String
        package var rows: [Row]
    }

    struct Sample {
        var attest: [UInt8]
        var signature: [UInt8]
        var nonce: [UInt8]
        var values: [[UInt8]]
    }

    /// Takes `quotes` quotes per AK type from the TPM at `tcti` (nil: a temporary swtpm), checks that each verifies,
    /// then measures raw, full and enrolled-key verification alternating, the best of `timing.rounds` each.
    package static func run(tcti: String?, quotes: Int, timing: BenchmarkTiming) throws -> Report {
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
                throw BenchmarkError(.badSample, "a quote taken for the benchmark does not verify")
            }
            var bestRaw = 0.0, bestFull = 0.0, bestEnrolled = 0.0
            for _ in 0..<timing.rounds {
                guard let r = operationsPerSecond(seconds: timing.seconds, raw),
                      let f = operationsPerSecond(seconds: timing.seconds, full),
                      let e = operationsPerSecond(seconds: timing.seconds, enrolled) else {
                    throw BenchmarkError(.checkFailedDuringRun, "a verification failed during the measured run")
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
        return Report(build: BenchmarkBuild.name, tpm: tctiString, rows: rows)
    }

    /// Signature verification alone: key and signature parsed once, outside the loop.
    static func rawVerifier(_ publicBytes: [UInt8], _ samples: [Sample]) throws -> (Int) -> Bool {
        let area = try Public(wireBytes: publicBytes).publicArea
        let sigs = try samples.map { try Signature(wireBytes: $0.signature) }
        switch area.parameters {
        case .ecc(_, _, _, _, let x, let y):
            let key = try P256.Signing.PublicKey(x963Representation: [0x04] + x + y)
            let parsed: [P256.Signing.ECDSASignature] = try sigs.map {
                guard case .ecdsa(_, let r, let s) = $0 else { throw BenchmarkError(.badSample, "not ECDSA") }
                return try P256.Signing.ECDSASignature(rawRepresentation: pad(r, 32) + pad(s, 32))
            }
            return { i in key.isValidSignature(parsed[i % parsed.count], for: samples[i % samples.count].attest) }
        case .rsa(_, _, _, _, let modulus):
            let key = try _RSA.Signing.PublicKey(n: modulus, e: [1, 0, 1])
            let parsed: [_RSA.Signing.RSASignature] = try sigs.map {
                guard case .rsassa(_, let bytes) = $0 else { throw BenchmarkError(.badSample, "not RSASSA") }
                return _RSA.Signing.RSASignature(rawRepresentation: bytes)
            }
            return { i in key.isValidSignature(parsed[i % parsed.count], for: samples[i % samples.count].attest, padding: .insecurePKCS1v1_5) }
        }
    }

    static func pad(_ b: [UInt8], _ n: Int) -> [UInt8] { b.count >= n ? b : [UInt8](repeating: 0, count: n - b.count) + b }
}
