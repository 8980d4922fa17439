import Attestation
import Swtpm
import Crypto
import Foundation
import Testing
import TPM
import TPMWire

@Suite("TPM device against swtpm", .serialized)
final class TPMDeviceTests {
    let swtpm: SoftwareTPM
    let device: TPMDevice

    init() throws {
        swtpm = try startSoftwareTPM()
        device = try TPMDevice(tcti: swtpm.tcti)
    }

    deinit { swtpm.destroy() }

    @Test func randomAndInfo() throws {
        let a = try device.random(48)
        let b = try device.random(48)
        #expect(a.count == 48 && a != b)
        let info = try device.info()
        #expect(info.pcrBanks.contains("sha256"))
        #expect(info.transientHandles == 0)
    }

    /// The EKs made from the Credential Profile templates are the keys swtpm_setup certified.
    @Test(arguments: [EKType.rsa2048, .eccP384])
    func endorsementKeyMatchesItsCertificate(type: EKType) throws {
        let ek = try device.withEndorsementKey(type) { $0.publicKey }
        let der = try #require(try device.endorsementCertificate(type))
        guard case .matches = EKCertificateMatch.check(ek: ek, certificateDER: der) else {
            Issue.record("\(type) EK does not match its certificate"); return
        }
        // …and not the other type's certificate.
        let other = try #require(try device.endorsementCertificate(type == .rsa2048 ? .eccP384 : .rsa2048))
        guard case .differs = EKCertificateMatch.check(ek: ek, certificateDER: other) else {
            Issue.record("\(type) EK matched the wrong certificate"); return
        }
        #expect(try device.transientHandles().isEmpty)
    }

    @Test func p256EKHasNoCertificateOnSwtpm() throws {
        #expect(try device.endorsementCertificate(.eccP256) == nil)
        let ek = try device.withEndorsementKey(.eccP256) { $0.publicKey }
        guard case .ecc(_, _, let curve, _, let x, _) = ek.publicArea.parameters else { Issue.record("not ECC"); return }
        #expect(curve == .nistP256 && x.count == 32)
    }

    @Test func extendMovesThePCRAsTheSpecSays() throws {
        let sel = PCRSelectionList([PCRSelection(hash: .sha256, pcrs: [14])])
        let before = try device.readPCRs(sel).ordered[0]
        let digest = Array(SHA256.hash(data: Array("smig".utf8)))
        try device.extendPCR(14, digests: [(.sha256, digest)])
        let after = try device.readPCRs(sel).ordered[0]
        #expect(after == Array(SHA256.hash(data: before + digest)))
        let shortDigest = #expect(throws: TPMDeviceError.self) { try self.device.extendPCR(14, digests: [(.sha256, [1, 2, 3])]) }
        #expect(shortDigest?.code == .badArgument)
        let noSuchPCR = #expect(throws: TPMDeviceError.self) { try self.device.extendPCR(24, digests: [(.sha256, digest)]) }
        #expect(noSuchPCR?.code == .badArgument)
        #expect(try device.readPCRs(sel).ordered[0] == after)
    }

    @Test func readsMoreThanEightPCRsAcrossCalls() throws {
        let all = try device.readPCRs(try PCRSelectionList(parsing: "sha256:all"))
        #expect(all.ordered.count == 24)
        #expect(all.ordered.allSatisfy { $0.count == 32 })
    }

    @Test(arguments: [(AKType.eccP256, EKType.rsa2048), (.rsa2048, .rsa2048), (.eccP256, .eccP384), (.eccP256, .eccP256)])
    func attestationKeyQuotesVerify(ak akType: AKType, ek ekType: EKType) throws {
        let blob = try device.createAttestationKey(akType, under: ekType)
        let key = try AttestationKey(tpm2bPublic: blob.publicBytes)
        let sel = try PCRSelectionList(parsing: "sha256:0-7,15")
        let nonce = try device.random(32)
        let (quote, values) = try device.withAttestationKey(blob) { ak in
            try device.quoteWithValues(with: ak, nonce: nonce, selection: sel)
        }
        let verdict = QuoteVerifier.verify(attest: quote.attest, signature: quote.signature, key: key, pcrValues: values.ordered,
                                           expected: QuoteExpectation(nonce: nonce, selection: sel))
        #expect(verdict.error == nil, "\(verdict)")
        #expect(try device.transientHandles().isEmpty)
        #expect(try device.loadedSessions().isEmpty)
    }

    @Test func savedKeyBlobsSurviveANewContext() throws {
        // swtpm serves one connection at a time: use a TPM of this test's own, opened twice in turn.
        let own = try startSoftwareTPM()
        defer { own.destroy() }
        let dir = own.root.appendingPathComponent("state")
        let store = AttestationKeyStore(directory: dir)
        do {
            let first = try TPMDevice(tcti: own.tcti)
            try store.save(try first.createAttestationKey(.eccP256, under: .rsa2048))
        }
        let reopened = try TPMDevice(tcti: own.tcti)
        let blob = try store.load()
        let name = try reopened.withAttestationKey(blob) { try $0.publicKey.name }
        #expect(try name == (try blob.akPublic).name)
        let attrs = try FileManager.default.attributesOfItem(atPath: store.blobURL.path)
        #expect((attrs[.posixPermissions] as? Int) == 0o600)
    }

    @Test func corruptKeyBlobIsAClearError() throws {
        var blob = try device.createAttestationKey(.eccP256, under: .rsa2048)
        blob.privateBytes = Array(blob.privateBytes.dropLast(3))
        let error = #expect(throws: TPMDeviceError.self, "a truncated private blob") { try device.withAttestationKey(blob) { _ in 0 } }
        #expect(error?.code == .keyState)
        #expect(try device.transientHandles().isEmpty)
    }

    @Test func badTCTIIsAClearError() {
        let error = #expect(throws: TPMDeviceError.self) { try TPMDevice(tcti: "nosuchtcti:foo") }
        #expect(error?.code == .tctiUnavailable)
    }
}

@Suite("swtpm-setup scripts")
struct SwtpmSetupScriptTests {
    @Test func createStartStatusStop() throws {
        let script = repositoryRoot.appendingPathComponent("swtpm-setup/swtpm-ctl").path
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-script-\(UUID().uuidString)")
        defer { _ = try? runTool(script, ["stop", dir.appendingPathComponent("tpm").path]); try? FileManager.default.removeItem(at: dir) }
        let state = dir.appendingPathComponent("tpm").path
        let (c, out) = try runTool(script, ["create", state])
        #expect(c == 0, "\(out)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("localca/issuercert.pem").path))
        let port = try SoftwareTPM.freePortPair()
        let (s, tcti) = try runTool(script, ["start", state, String(port)])
        #expect(s == 0, "\(tcti)")
        #expect(tcti.trimmingCharacters(in: .whitespacesAndNewlines) == "swtpm:host=127.0.0.1,port=\(port)")
        let (st, status) = try runTool(script, ["status", state])
        #expect(st == 0 && status.hasPrefix("running"))
        // The TPM the script started has certified EKs.
        let device = try TPMDevice(tcti: "swtpm:host=127.0.0.1,port=\(port)")
        #expect(try device.endorsementCertificate(.rsa2048) != nil)
        let (_, stop) = try runTool(script, ["stop", state])
        #expect(stop.contains("stopped"))
        let (st2, _) = try runTool(script, ["status", state])
        #expect(st2 == 3)
        // Creating over an existing state is refused.
        let (again, msg) = try runTool(script, ["create", state])
        #expect(again != 0 && msg.contains("already holds"))
    }
}
