import Attestation
import Measurement
import Policy
import SmigTestSupport
import Swtpm
import SyntheticBootLogs
import Testing
import TPM
import TPMWire

@Suite("boot log against swtpm")
struct SwtpmBootLogTests {
    /// A crafted boot log replayed into a swtpm's PCRs 0–9 matches the TPM, and evaluation accepts it.
    @Test func craftedBootLogMatchesASwtpm() throws {
        let swtpm = try startSwtpm()
        defer { swtpm.destroy() }
        let device = try TPMDevice(tcti: swtpm.tcti)
        var builder = BootEventLogBuilder.realistic()
        builder.startupLocality = nil  // swtpm started at locality 0: PCR 0 starts at zero
        // Only PCRs software may extend after startup in a running swtpm (all of 0–9 are locality-0 extendable).
        for extend in builder.extends() { try device.extendPCR(extend.pcr, digests: extend.digests) }
        let log = try BootEventLog(bytes: builder.bytes())
        let selection = PCRSelectionList([PCRSelection(hash: .sha256, pcrs: Array(0...9))])
        let values = try device.readPCRs(selection)
        let quoted = values.banks
        #expect(log.mismatches(against: quoted).isEmpty)
        let verdict = Evaluator.evaluate(.init(quoted: quoted, records: [], bootLog: log,
                                               golden: GoldenValues(name: "boot", pcrs: [.sha256: [9: [quoted[.sha256, 9] ?? []]]]),
                                               runtimePCRs: []))
        #expect(verdict.trusted, "\(verdict.reasons)")
    }
}
