import Attestation
import Swtpm
import Foundation
import SmigTestSupport
import Testing
import TPM
import TPMWire

/// MakeCredential in software (Attestation) against TPM2_ActivateCredential in a real swtpm (TPM): a credential
/// is recovered only by the TPM holding the EK, only for the AK whose Name it was made for, and only unaltered.
@Suite("Credential activation on swtpm", .serialized)
struct CredentialTests {
    @Test(arguments: [(EKType.rsa2048, AKType.eccP256), (.eccP256, .eccP256), (.eccP384, .rsa2048)])
    func softwareCredentialActivatesInTheTPM(ek: EKType, ak: AKType) throws {
        let tpm = try startSoftwareTPM()
        defer { tpm.destroy() }
        let device = try TPMDevice(tcti: tpm.tcti)
        let blob = try device.createAttestationKey(ak, under: ek)
        let ekPublic = try device.withEndorsementKey(ek) { $0.publicKey }
        let name = try blob.akPublic.name
        let secret = Array("the enrolment credential 32 byte".utf8)
        let c = try MakeCredential.make(ek: ekPublic, objectName: name, credential: secret)
        #expect(try device.activateCredential(ak: blob, idObject: c.idObject, encryptedSecret: c.encryptedSecret) == secret)

        // For another object's Name: the TPM's integrity check fails.
        let other = try MakeCredential.make(ek: ekPublic, objectName: [0x00, 0x0B] + [UInt8](repeating: 7, count: 32), credential: secret)
        let otherName = #expect(throws: TPMDeviceError.self) {
            try device.activateCredential(ak: blob, idObject: other.idObject, encryptedSecret: other.encryptedSecret)
        }
        #expect(otherName?.code == .credentialRejected)
        // Altered: every byte of the integrity HMAC and the encrypted credential matters.
        for i in stride(from: 4, to: c.idObject.count, by: 5) {
            var bytes = c.idObject
            bytes[i] ^= 0x01
            let altered = #expect(throws: TPMDeviceError.self, "altered byte \(i)") {
                try device.activateCredential(ak: blob, idObject: bytes, encryptedSecret: c.encryptedSecret)
            }
            #expect(altered?.code == .credentialRejected)
        }
        // Nothing stays loaded (swtpm has no resource manager).
        #expect(try device.transientHandles().isEmpty)
        #expect(try device.loadedSessions().isEmpty)
    }

    /// A credential for the EK of another TPM cannot be recovered here.
    @Test func anotherTPMsEKIsUseless() throws {
        let one = try startSoftwareTPM(), two = try startSoftwareTPM()
        defer { one.destroy(); two.destroy() }
        let d1 = try TPMDevice(tcti: one.tcti), d2 = try TPMDevice(tcti: two.tcti)
        let blob2 = try d2.createAttestationKey(.eccP256, under: .rsa2048)
        let ek1 = try d1.withEndorsementKey(.rsa2048) { $0.publicKey }
        let c = try MakeCredential.make(ek: ek1, objectName: try blob2.akPublic.name, credential: [1, 2, 3, 4])
        let error = #expect(throws: TPMDeviceError.self) { try d2.activateCredential(ak: blob2, idObject: c.idObject, encryptedSecret: c.encryptedSecret) }
        #expect(error?.code == .credentialRejected)
    }

    /// tpm2-tools' own MakeCredential (`tpm2_makecredential --tcti none`, no TPM) produces a blob our
    /// ActivateCredential recovers; and with the same fixed inputs our blob has the same structure and sizes.
    @Test func tpm2MakecredentialInterop() throws {
        let tpm = try startSoftwareTPM()
        defer { tpm.destroy() }
        let device = try TPMDevice(tcti: tpm.tcti)
        let blob = try device.createAttestationKey(.eccP256, under: .rsa2048)
        let ekPublic = try device.withEndorsementKey(.rsa2048) { $0.publicKey }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mkcred-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(ekPublic.wireBytes).write(to: dir.appendingPathComponent("ek.pub"))
        let secret = Array("tpm2-tools made this".utf8)
        try Data(secret).write(to: dir.appendingPathComponent("secret"))
        let name = try blob.akPublic.name.map { String(format: "%02x", $0) }.joined()
        let r = try ToolRun.run("tpm2_makecredential", ["--tcti", "none", "-u", dir.appendingPathComponent("ek.pub").path, "-s",
                                                        dir.appendingPathComponent("secret").path, "-n", name, "-o", dir.appendingPathComponent("cred").path])
        #expect(r.status == 0, "\(r.output)")
        // tpm2-tools' file: magic BADCC0DE, version 1, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET.
        let file = [UInt8](try Data(contentsOf: dir.appendingPathComponent("cred")))
        #expect(Array(file.prefix(8)) == [0xBA, 0xDC, 0xC0, 0xDE, 0, 0, 0, 1])
        var reader = WireReader(Array(file.dropFirst(8)))
        let idObject = try reader.readSized(maximum: 1024, "TPM2B_ID_OBJECT")
        let encSecret = try reader.readSized(maximum: 1024, "TPM2B_ENCRYPTED_SECRET")
        func sized(_ b: [UInt8]) -> [UInt8] { [UInt8(b.count >> 8), UInt8(b.count & 0xFF)] + b }
        #expect(try device.activateCredential(ak: blob, idObject: sized(idObject), encryptedSecret: sized(encSecret)) == secret)
        let ours = try MakeCredential.make(ek: ekPublic, objectName: try blob.akPublic.name, credential: secret)
        #expect(ours.idObject.count == idObject.count + 2 && ours.encryptedSecret.count == encSecret.count + 2)
    }

    /// Same inputs and randomness, same bytes: the construction is deterministic apart from its seed.
    @Test func deterministicGivenTheSeed() throws {
        let tpm = try startSoftwareTPM()
        defer { tpm.destroy() }
        let device = try TPMDevice(tcti: tpm.tcti)
        let ek = try device.withEndorsementKey(.rsa2048) { $0.publicKey }
        let fixed = MakeCredential.Randomness(seed: [UInt8](repeating: 3, count: 32), oaepSeed: [UInt8](repeating: 9, count: 32))
        let a = try MakeCredential.make(ek: ek, objectName: [0, 0x0B] + [UInt8](repeating: 1, count: 32), credential: [5, 6], randomness: fixed)
        let b = try MakeCredential.make(ek: ek, objectName: [0, 0x0B] + [UInt8](repeating: 1, count: 32), credential: [5, 6], randomness: fixed)
        #expect(a == b)
        let c = try MakeCredential.make(ek: ek, objectName: [0, 0x0B] + [UInt8](repeating: 1, count: 32), credential: [5, 6])
        #expect(c.encryptedSecret != a.encryptedSecret)
    }

    @Test func unusableEKsAreCodedErrors() throws {
        let ak = PublicArea(nameAlg: .sha256, objectAttributes: AKType.eccP256.template.objectAttributes, authPolicy: [],
                                parameters: AKType.eccP256.template.parameters)
        for (ek, code) in [(Public(ak), AttestationError.Code.credentialUnsupportedEK)] {
            let error = #expect(throws: AttestationError.self) {
                try MakeCredential.make(ek: ek, objectName: [0, 0x0B] + [UInt8](repeating: 1, count: 32), credential: [1])
            }
            #expect(error?.code == code)
        }
        // An all-zero point (the template itself) is not on the curve.
        let offCurve = #expect(throws: AttestationError.self) {
            try MakeCredential.make(ek: Public(EKType.eccP256.template), objectName: [0, 0x0B] + [UInt8](repeating: 1, count: 32), credential: [1])
        }
        #expect(offCurve?.code == .credentialUnsupportedEK)
        let shortName = #expect(throws: AttestationError.self) { try MakeCredential.make(ek: Public(EKType.rsa2048.template), objectName: [1], credential: [1]) }
        #expect(shortName?.code == .credentialBadInput)
    }
}
