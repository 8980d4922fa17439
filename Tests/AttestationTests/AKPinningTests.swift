import Attestation
import Crypto
import Foundation
import Testing
import TPMWire

/// A bundle proves nothing about itself: the verifier checks it against an AK it already trusts and a nonce it
/// issued. The forger here has the genuine attest bytes (right magic, nonce and PCR digest), signs them with a
/// software P-256 key and wraps that key in a TPM2B_PUBLIC claiming the genuine AK's attributes
/// (restricted | fixedTPM | fixedParent | sensitiveDataOrigin | sign).
@Suite("AK pinning and freshness")
struct AKPinningTests {
    struct Forgery {
        var bundle: EvidenceBundle
        var genuine: QuoteVector
    }

    static func forge() throws -> Forgery {
        let v = try QuoteVector.load("quote-ecc-p256")
        let genuine = try Public(wireBytes: v.akPublic)
        let software = P256.Signing.PrivateKey()
        let point = [UInt8](software.publicKey.x963Representation)
        guard case .ecc(let sym, let scheme, let curve, let kdf, _, _) = genuine.publicArea.parameters else {
            throw ForgeryFailed()
        }
        let fakeArea = PublicArea(nameAlg: genuine.publicArea.nameAlg, objectAttributes: genuine.publicArea.objectAttributes,
                                  authPolicy: genuine.publicArea.authPolicy,
                                  parameters: .ecc(symmetric: sym, scheme: scheme, curve: curve, kdf: kdf,
                                                   x: Array(point[1..<33]), y: Array(point[33..<65])))
        let fake = Public(fakeArea)
        let sig = try software.signature(for: SHA256.hash(data: v.attest))
        let raw = [UInt8](sig.rawRepresentation)
        let signature = Signature.ecdsa(hash: .sha256, r: Array(raw[0..<32]), s: Array(raw[32..<64]))
        let bundle = EvidenceBundle(hostId: "victim", akPublic: fake.wireBytes, akName: try fake.name, nonce: v.nonce, attest: v.attest,
                                    signature: signature.wireBytes, selection: v.selection, pcrValues: v.values, agentTime: Date())
        return Forgery(bundle: bundle, genuine: v)
    }

    struct ForgeryFailed: Error {}

    @Test func forgedBundleIsRefusedByEveryPin() throws {
        let f = try Self.forge()
        let genuineKey = try f.genuine.key()
        let byArea = f.bundle.verify(pinnedAK: .publicArea(genuineKey), freshness: .nonce(f.genuine.nonce), selection: nil)
        #expect(byArea.error?.code == .akMismatch)
        let byName = f.bundle.verify(pinnedAK: .name(genuineKey.name), freshness: .nonce(f.genuine.nonce), selection: nil)
        #expect(byName.error?.code == .akMismatch)
        let spki = try AttestationKey(subjectPublicKeyInfo: Array(genuineKey.pemRepresentation.utf8))
        let bySPKI = f.bundle.verify(pinnedAK: .subjectPublicKeyInfo(spki), freshness: .nonce(f.genuine.nonce), selection: nil)
        #expect(bySPKI.error?.code == .akMismatch)
        // Even with the forged key's AK field replaced by the genuine one, the signature is the software key's.
        var swapped = f.bundle
        swapped.akPublic = Data(f.genuine.akPublic).base64EncodedString()
        let sig = swapped.verify(pinnedAK: .publicArea(genuineKey), freshness: .nonce(f.genuine.nonce), selection: nil)
        #expect(sig.error?.code == .badSignature)
    }

    /// What "self-consistency only" means: the forgery passes it. That is why the CLI never calls it valid.
    @Test func forgedBundleIsSelfConsistent() throws {
        let f = try Self.forge()
        #expect(f.bundle.verifySelfConsistencyOnly(freshness: .nonce(f.genuine.nonce), selection: nil).verified != nil)
    }

    @Test func genuineBundleVerifiesWithEachPin() throws {
        let v = try QuoteVector.load("quote-ecc-p256")
        let key = try v.key()
        #expect(v.bundle.verify(pinnedAK: .publicArea(key), freshness: .nonce(v.nonce), selection: nil).verified != nil)
        #expect(v.bundle.verify(pinnedAK: .name(key.name), freshness: .nonce(v.nonce), selection: nil).verified != nil)
        let spki = try AttestationKey(subjectPublicKeyInfo: Array(key.pemRepresentation.utf8))
        #expect(!spki.attributesChecked)
        #expect(v.bundle.verify(pinnedAK: .subjectPublicKeyInfo(spki), freshness: .nonce(v.nonce), selection: nil).verified != nil)
    }

    @Test func anotherGenuineAKIsAMismatch() throws {
        let ecc = try QuoteVector.load("quote-ecc-p256")
        let rsa = try QuoteVector.load("quote-rsa2048")
        let verdict = ecc.bundle.verify(pinnedAK: .publicArea(try rsa.key()), freshness: .nonce(ecc.nonce), selection: nil)
        #expect(verdict.error?.code == .akMismatch)
    }

    @Test(arguments: [0, 1, 8, 15])
    func shortNoncesAreNoChallenge(length: Int) throws {
        let error = #expect(throws: AttestationError.self) { try Freshness.issued([UInt8](repeating: 7, count: length)) }
        #expect(error?.code == .nonceTooShort)
        let ok = try Freshness.issued([UInt8](repeating: 7, count: 16))
        guard case .nonce(let n) = ok else { Issue.record("16 bytes refused"); return }
        #expect(n.count == 16)
    }

    @Test func spkiParsingRejectsGarbageWithACode() throws {
        for bytes: [UInt8] in [[], [0x30, 0x03, 0x01], Array("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".utf8)] {
            let error = #expect(throws: AttestationError.self, "\(bytes)") { try AttestationKey(subjectPublicKeyInfo: bytes) }
            #expect(error?.code == .malformedKey)
        }
    }
}
