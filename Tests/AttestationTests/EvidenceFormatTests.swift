import Attestation
import Foundation
import Testing
import TPMWire

@Suite("Evidence formats")
struct EvidenceFormatTests {
    @Test(arguments: QuoteVector.names)
    func tpm2ToolsPCRFileRoundTripsAndRejectsTruncations(name: String) throws {
        let v = try QuoteVector.load(name)
        let file = TPM2ToolsPCRFile(selection: v.selection, values: v.values)
        let bytes = file.bytes
        #expect(bytes.count == 4 + 16 * 8 + 4 + 2 * (4 + 8 * 66))
        let parsed = try TPM2ToolsPCRFile(bytes: bytes)
        #expect(parsed.values == v.values)
        #expect(parsed.selection.selectsSame(as: v.selection))
        for n in 0..<bytes.count {
            let error = #expect(throws: AttestationError.self, "prefix \(n)") { try TPM2ToolsPCRFile(bytes: Array(bytes.prefix(n))) }
            #expect(error?.code == .malformedEvidence)
        }
    }

    @Test func malformedBundlesAreRejectedWithACode() throws {
        let v = try QuoteVector.load("quote-ecc-p256")
        let good = v.bundle.encoded()
        for n in stride(from: 0, to: good.count, by: 7) {
            let error = #expect(throws: AttestationError.self, "prefix \(n)") { try EvidenceBundle.decode(good.prefix(n)) }
            #expect(error?.code == .malformedEvidence)
        }
        var badBase64 = v.bundle
        badBase64.attest = "%%%"
        #expect(badBase64.verifySelfConsistencyOnly(freshness: .notChecked, selection: nil).error?.code == .malformedEvidence)
        var badName = v.bundle
        badName.akName = "000b" + String(repeating: "00", count: 32)
        #expect(badName.verifySelfConsistencyOnly(freshness: .notChecked, selection: nil).error?.code == .malformedKey)
        var missing = v.bundle
        missing.pcrs["sha256"]?["15"] = nil
        #expect(missing.verifySelfConsistencyOnly(freshness: .notChecked, selection: nil).error?.code == .malformedPCRValues)
        var version = v.bundle
        version.version = 2
        let versionError = #expect(throws: AttestationError.self, "version 2") { try EvidenceBundle.decode(version.encoded()) }
        #expect(versionError?.code == .malformedEvidence)
    }

    @Test func clockObservationOrdering() throws {
        let base = ClockObservation(clock: 100, resetCount: 2, restartCount: 1)
        #expect(try base.continuity(to: base).get() == .continuous)
        #expect(try base.continuity(to: .init(clock: 5, resetCount: 3, restartCount: 0)).get() == .rebooted)
        #expect(try base.continuity(to: .init(clock: 5, resetCount: 2, restartCount: 2)).get() == .restarted)
        if case .failure(let e) = base.continuity(to: .init(clock: 99, resetCount: 2, restartCount: 1)) { #expect(e.code == .clockWentBack) } else { Issue.record("clock back accepted") }
    }
}
