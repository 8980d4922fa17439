import Agent
import Attestation
import Foundation
@testable import Measurement
import Policy
import SmigTestSupport
import Swtpm
import Testing
import TPM
import TPMWire

@Suite("QEMU text, swtpm PCR 15, quote and verdict", .serialized)
struct QEMUWithSwtpmLiveTests {
    /// The must-show: a real QEMU, its text measured and extended into a swtpm, one byte written into
    /// its code through /proc/PID/mem; the digest changes, the log gains one record, the PCR moves, the quote
    /// still verifies, and the verdict turns untrusted naming `process-text` of that process. Then a restart
    /// of the measuring side neither loses nor duplicates records, and the replay still equals the PCR.
    @Test func oneByteInQEMUsCodeTurnsTheVerdictUntrusted() throws {
        let qemu = try requireTool("qemu-system-x86_64")
        let swtpm = try startSwtpm()
        defer { swtpm.destroy() }
        let device = try TPMDevice(tcti: swtpm.tcti)
        let extender = TPMPCRExtender(device: device)
        let pcr = Measurer.defaultPCR

        let child = try MeasuredChild(qemu, ["-accel", "tcg", "-display", "none", "-nodefaults", "-m", "32", "-S",
                                            "-monitor", "none", "-serial", "none"])
        defer { child.stop() }
        let executable = ProcessTextSource.executable(of: child.pid) ?? qemu
        let source = ProcessTextSource(.pid(child.pid))
        let first = try child.stableTextMeasurement(of: executable)

        let directory = try TemporaryDirectory()
        let logPath = "\(directory.path)/measurements.log"
        var measurer = Measurer(log: try MeasurementLog(path: logPath, bootID: "swtpm-boot"), extender: extender, pcr: pcr)
        #expect(try measurer.recover() == .consistent)
        #expect(try measurer.record([first]).count == 1)
        #expect(try measurer.record([try source.measure(pid: child.pid)]).isEmpty)  // unchanged: not re-extended
        let golden = GoldenValues(name: "qemu-host", entries: [.init(name: first.name, sha256: [first.sha256], required: true)])

        // Quote PCR 15 with a fresh AK and nonce, verify it, evaluate it.
        let blob = try device.createAttestationKey(.eccP256, under: .rsa2048)
        let key = try AttestationKey(tpm2bPublic: blob.publicBytes)
        let selection = PCRSelectionList([PCRSelection(hash: .sha256, pcrs: [pcr])])
        func quoteAndEvaluate(_ records: [MeasurementRecord]) throws -> (Verdict, [UInt8]) {
            let nonce = try device.random(32)
            let (quote, values) = try device.withAttestationKey(blob) { ak in
                try device.quoteWithValues(with: ak, nonce: nonce, selection: selection)
            }
            let verdict = QuoteVerifier.verify(attest: quote.attest, signature: quote.signature, key: key,
                                               pcrValues: values.ordered,
                                               expected: QuoteExpectation(nonce: nonce, selection: selection))
            let verified = try #require(verdict.verified, "the quote does not verify: \(verdict)")
            let quoted = verified.pcrs
            let pcrValue = try #require(quoted[.sha256, pcr])
            return (Evaluator.evaluate(.init(quoted: quoted, records: records, golden: golden)), pcrValue)
        }
        let (before, pcrBefore) = try quoteAndEvaluate(measurer.log.records)
        #expect(before.trusted, "\(before.reasons)")

        // The attack: one byte of QEMU's code.
        try child.poke(address: try child.lastTextByte(of: executable))
        let second = try source.measure(pid: child.pid)
        #expect(second.sha256 != first.sha256)
        #expect(try measurer.record([second]).count == 1)
        #expect(measurer.log.records.count == 2)

        let (after, pcrAfter) = try quoteAndEvaluate(measurer.log.records)
        #expect(pcrAfter != pcrBefore)
        #expect(pcrAfter == (try extender.read(pcr: pcr)))
        #expect(!after.trusted)
        #expect(after.reasons.count == 1)
        let reason = try #require(after.reasons.first)
        #expect(reason.kind == .digestNotAllowed)
        #expect(reason.source == "process-text")
        #expect(reason.measurement == "process-text:\(executable)#\(child.pid)")

        // Restart of the measuring process: same log file, same TPM.
        measurer = Measurer(log: try MeasurementLog(path: logPath, bootID: "swtpm-boot"), extender: extender, pcr: pcr)
        #expect(try measurer.recover() == .consistent)
        #expect(measurer.log.records.map(\.recnum) == [0, 1])
        #expect(try measurer.record([try source.measure(pid: child.pid)]).isEmpty)
        #expect(measurer.log.records.count == 2)
        try MeasurementReplay.check(measurer.log.records, against: [pcr: try extender.read(pcr: pcr)])
        let (afterRestart, _) = try quoteAndEvaluate(measurer.log.records)
        #expect(afterRestart.reasons.map(\.kind) == [.digestNotAllowed])  // still visible until reboot
        #expect(try device.transientHandles().isEmpty)
    }
}
