import TPMWire
import Attestation
import Foundation
import Policy
import SmigTestSupport
import Testing

@testable import Measurement

#if canImport(Glibc)
import Glibc
#endif

@Suite("process-text", .serialized)
struct ProcessTextTests {
    @Test func measuresAChildAndSeesAOneByteWrite() throws {
        let sleep = try requireTool("sleep")
        let child = try MeasuredChild(sleep, ["60"])
        let executable = ProcessTextSource.executable(of: child.pid) ?? sleep
        let before = try child.stableTextMeasurement(of: executable)
        #expect(before.name == "process-text:\(executable)")
        #expect(before.instance == String(child.pid))

        // The same text selected by executable path yields this process among the matches.
        let byPath = try ProcessTextSource(.executable(executable)).measure()
        #expect(byPath.contains { $0.instance == String(child.pid) && $0.sha256 == before.sha256 })

        try child.poke(address: try child.lastTextByte(of: executable))
        let after = try ProcessTextSource(.pid(child.pid)).measure(pid: child.pid)
        #expect(after.sha256 != before.sha256)
        try child.poke(address: try child.lastTextByte(of: executable))  // undo
        #expect(try ProcessTextSource(.pid(child.pid)).measure(pid: child.pid).sha256 == before.sha256)
    }

    @Test func textBytesHashToTheMeasurement() throws {
        let sleep = try requireTool("sleep")
        let child = try MeasuredChild(sleep, ["60"])
        let executable = ProcessTextSource.executable(of: child.pid) ?? sleep
        _ = try child.stableTextMeasurement(of: executable)
        let bytes = try ProcessTextSource(.pid(child.pid)).textBytes(pid: child.pid)
        #expect(bytes.count > 4096)
    }

    @Test func goneProcess() throws {
        let pid = #expect(throws: MeasurementError.self) { try ProcessTextSource(.pid(Int32.max - 1)).measure() }
        #expect(pid?.code == .processUnavailable)
        let executable = #expect(throws: MeasurementError.self) { try ProcessTextSource(.executable("/nonexistent/hypervisor")).measure() }
        #expect(executable?.code == .noSuchProcess)
    }

    /// The must-show scenario, up to the software PCR bank: a real QEMU, one byte written into its code.
    /// (`QEMUWithSwtpmLiveTests` runs the same against a swtpm with a quote.)
    @Test func qemuCodeWriteTurnsTheVerdictUntrusted() throws {
        let qemu = try requireTool("qemu-system-x86_64")
        let child = try MeasuredChild(qemu, ["-accel", "tcg", "-display", "none", "-nodefaults", "-m", "32", "-S",
                                            "-monitor", "none", "-serial", "none"])
        let executable = ProcessTextSource.executable(of: child.pid) ?? qemu
        let first = try child.stableTextMeasurement(of: executable)
        #expect(first.name == "process-text:\(executable)")

        let directory = try TemporaryDirectory()
        let pcrs = SoftwarePCRBank()
        let measurer = Measurer(log: try MeasurementLog(path: "\(directory.path)/m.log", bootID: "b"), extender: pcrs)
        try measurer.record([first])
        let pcrBefore = try pcrs.read(pcr: 15)
        let golden = GoldenValues(name: "qemu-host", entries: [.init(name: first.name, sha256: [first.sha256])])

        func verdict() throws -> Verdict {
            var quoted = PCRBanks()
            quoted[.sha256, 15] = try pcrs.read(pcr: 15)
            return Evaluator.evaluate(.init(quoted: quoted, records: measurer.log.records, golden: golden))
        }
        #expect(try verdict().trusted)
        #expect(try measurer.record([try ProcessTextSource(.pid(child.pid)).measure(pid: child.pid)]).isEmpty)

        try child.poke(address: try child.lastTextByte(of: executable))
        let second = try ProcessTextSource(.pid(child.pid)).measure(pid: child.pid)
        #expect(second.sha256 != first.sha256)
        let appended = try measurer.record([second])
        #expect(appended.count == 1)
        #expect(measurer.log.records.count == 2)
        #expect(try pcrs.read(pcr: 15) != pcrBefore)

        let result = try verdict()
        #expect(!result.trusted)
        #expect(result.reasons.count == 1)
        #expect(result.reasons.first?.kind == .digestNotAllowed)
        #expect(result.reasons.first?.source == "process-text")
        #expect(result.reasons.first?.measurement == "process-text:\(executable)#\(child.pid)")
        child.stop()
    }
}
