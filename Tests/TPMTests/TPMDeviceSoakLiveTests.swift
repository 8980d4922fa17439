import Attestation
import SmigTestSupport
import Swtpm
import Testing
import TPM
import TPMWire

/// A soak test of the TPM device: tens of seconds of work in one swtpm, so a live suite (the fast loop,
/// `swift test --skip LiveTests`, leaves it out; `scripts/test` runs it).
@Suite("TPM device against swtpm: a thousand quotes")
struct TPMDeviceSoakLiveTests {
    /// 1,000 quotes in a row on one swtpm, each loading and flushing EK and AK: every one verifies and no handle
    /// or session is left behind (swtpm has no resource manager: a leak shows as TPM_RC_OBJECT_MEMORY).
    @Test func thousandQuotesLeaveNothingBehind() async throws {
        // A thousand quotes block for minutes: on a thread of their own, not one of the two the whole suite shares.
        let (failure, transients, sessions) = try await offPool("a thousand quotes") { () throws -> (String?, [UInt32], [UInt32]) in
            let swtpm = try startSoftwareTPM()
            defer { swtpm.destroy() }
            let device = try TPMDevice(tcti: swtpm.tcti)
            let blob = try device.createAttestationKey(.eccP256, under: .rsa2048)
            let key = try AttestationKey(tpm2bPublic: blob.publicBytes)
            let sel = try PCRSelectionList(parsing: "sha256:0-7,15")
            var previous: ClockObservation?
            for i in 0..<1000 {
                let nonce = [UInt8(i & 0xFF), UInt8(i >> 8)] + [UInt8](repeating: 0x5A, count: 14)
                let quote = try device.withAttestationKey(blob) { ak in try device.quote(with: ak, nonce: nonce, selection: sel) }
                let values = try device.readPCRs(sel)
                let verdict = QuoteVerifier.verify(attest: quote.attest, signature: quote.signature, key: key, pcrValues: values.ordered,
                                                   expected: QuoteExpectation(nonce: nonce, selection: sel, previous: previous))
                guard case .valid(let q) = verdict else { return ("quote \(i): \(verdict)", [], []) }
                previous = q.clock
            }
            return (nil, try device.transientHandles(), try device.loadedSessions())
        }
        #expect(failure == nil)
        #expect(transients == [])
        #expect(sessions == [])
    }
}
