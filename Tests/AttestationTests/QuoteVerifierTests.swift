import Attestation
import Crypto
import Foundation
import Testing
import TPMWire

@Suite("Quote verification of real swtpm quotes")
struct QuoteVerifierTests {
    @Test(arguments: QuoteVector.names)
    func realQuoteVerifies(name: String) throws {
        let v = try QuoteVector.load(name)
        let verdict = try v.verify()
        guard case .valid(let q) = verdict else { Issue.record("\(name): \(verdict)"); return }
        #expect(q.pcrs[.sha256]?.count == 9)
        #expect(q.clock.resetCount == q.attest.clockInfo.resetCount)
        // The bundle path agrees.
        #expect(v.bundle.verify(pinnedAK: .publicArea(try v.key()), freshness: .nonce(v.nonce), selection: v.selection).error == nil)
    }

    /// Changing any single byte of the attest makes verification fail with a specific code, never a pass.
    @Test(arguments: QuoteVector.names)
    func everyAttestByteMatters(name: String) throws {
        let v = try QuoteVector.load(name)
        let allowed: Set<AttestationError.Code> = [.badSignature, .malformedAttest]
        for i in 0..<v.attest.count {
            for flip: UInt8 in [0x01, 0x80] {
                var bytes = v.attest
                bytes[i] ^= flip
                let verdict = try v.verify(attest: bytes)
                guard let code = verdict.error?.code else { Issue.record("byte \(i) ^ \(flip) passed"); continue }
                #expect(allowed.contains(code), "byte \(i): \(code)")
            }
        }
    }

    @Test(arguments: QuoteVector.names)
    func everySignatureByteMatters(name: String) throws {
        let v = try QuoteVector.load(name)
        let allowed: Set<AttestationError.Code> = [.badSignature, .malformedSignature, .schemeMismatch]
        for i in 0..<v.signature.count {
            var bytes = v.signature
            bytes[i] ^= 0x01
            let verdict = try v.verify(signature: bytes)
            guard let code = verdict.error?.code else { Issue.record("signature byte \(i) passed"); continue }
            #expect(allowed.contains(code), "signature byte \(i): \(code)")
        }
    }

    @Test(arguments: QuoteVector.names)
    func everyPCRValueByteMatters(name: String) throws {
        let v = try QuoteVector.load(name)
        for pcr in 0..<v.values.count {
            for i in 0..<v.values[pcr].count {
                var values = v.values
                values[pcr][i] ^= 0x01
                #expect(try v.verify(values: values).error?.code == .pcrDigestMismatch, "PCR #\(pcr) byte \(i)")
            }
        }
    }

    /// Every truncation of the attest, the signature and the AK public area is rejected cleanly.
    @Test(arguments: QuoteVector.names)
    func everyTruncationIsRejected(name: String) throws {
        let v = try QuoteVector.load(name)
        for n in 0..<v.attest.count {
            let code = try v.verify(attest: Array(v.attest.prefix(n))).error?.code
            #expect(code == .malformedAttest || code == .badSignature, "attest prefix \(n): \(String(describing: code))")
        }
        for n in 0..<v.signature.count {
            let code = try v.verify(signature: Array(v.signature.prefix(n))).error?.code
            #expect(code == .malformedSignature || code == .badSignature, "signature prefix \(n): \(String(describing: code))")
        }
        for n in 0..<v.akPublic.count {
            let error = #expect(throws: AttestationError.self) { try AttestationKey(tpm2bPublic: Array(v.akPublic.prefix(n))) }
            #expect(error?.code == .malformedKey, "AK prefix \(n): \(String(describing: error))")
        }
    }

    @Test(arguments: QuoteVector.names)
    func wrongNonceIsRejected(name: String) throws {
        let v = try QuoteVector.load(name)
        #expect(try v.verify(nonce: Array(v.nonce.reversed())).error?.code == .nonceMismatch)
        #expect(try v.verify(nonce: []).error?.code == .nonceMismatch)
        #expect(try v.verify(nonce: v.nonce + [0]).error?.code == .nonceMismatch)
    }

    @Test func wrongAKIsRejected() throws {
        let ecc = try QuoteVector.load("quote-ecc-p256")
        let rsa = try QuoteVector.load("quote-rsa2048")
        // Another P-256 restricted signing key: the signature does not verify.
        let other = try SoftwareAK()
        #expect(try ecc.verify(key: other.key).error?.code == .badSignature)
        // The RSA AK cannot have made an ECDSA signature.
        #expect(try ecc.verify(key: rsa.key()).error?.code == .schemeMismatch)
        #expect(try rsa.verify(key: ecc.key()).error?.code == .schemeMismatch)
    }

    @Test(arguments: QuoteVector.names)
    func differentSelectionIsRejected(name: String) throws {
        let v = try QuoteVector.load(name)
        let fewer = try PCRSelectionList(parsing: "sha256:0-7")
        #expect(try v.verify(values: Array(v.values.prefix(8)), selection: fewer).error?.code == .selectionMismatch)
        let sha1 = try PCRSelectionList(parsing: "sha1:0-7,15")
        let sha1Values = [[UInt8]](repeating: [UInt8](repeating: 0, count: 20), count: 9)
        #expect(try v.verify(values: sha1Values, selection: sha1).error?.code == .bankMismatch)
        let both = try PCRSelectionList(parsing: "sha256:0-7,15+sha1:0")
        #expect(try v.verify(values: v.values + [[UInt8](repeating: 0, count: 20)], selection: both).error?.code == .bankMismatch)
    }

    @Test(arguments: QuoteVector.names)
    func clockContinuity(name: String) throws {
        let v = try QuoteVector.load(name)
        let now = try #require(try v.verify().verified).clock
        let earlier = ClockObservation(clock: now.clock - 1, resetCount: now.resetCount, restartCount: now.restartCount)
        guard case .valid(let q) = try v.verify(previous: earlier) else { Issue.record("continuous clock rejected"); return }
        #expect(q.continuity == .continuous)

        let later = ClockObservation(clock: now.clock, resetCount: now.resetCount + 1, restartCount: 0)
        #expect(try v.verify(previous: later).error?.code == .resetCountWentBack)
        let laterRestart = ClockObservation(clock: 0, resetCount: now.resetCount, restartCount: now.restartCount + 1)
        #expect(try v.verify(previous: laterRestart).error?.code == .restartCountWentBack)
        let laterClock = ClockObservation(clock: now.clock + 1, resetCount: now.resetCount, restartCount: now.restartCount)
        #expect(try v.verify(previous: laterClock).error?.code == .clockWentBack)

        if now.resetCount > 0 {
            let beforeReboot = ClockObservation(clock: now.clock + 1_000_000, resetCount: now.resetCount - 1, restartCount: 5)
            guard case .rebooted(let r, _) = try v.verify(previous: beforeReboot) else { Issue.record("reboot not reported"); return }
            #expect(r.continuity == .rebooted)
        }
    }

    @Test func rebootIsReportedNotPassed() throws {
        let ak = try SoftwareAK()
        let (attest, sig) = try ak.quote(nonce: [1], values: [[UInt8](repeating: 0, count: 32)], clock: ClockInfo(clock: 10, resetCount: 3, restartCount: 0, safe: true))
        let previous = ClockObservation(clock: 99_999, resetCount: 2, restartCount: 7)
        let verdict = QuoteVerifier.verify(attest: attest, signature: sig, key: ak.key, pcrValues: [[UInt8](repeating: 0, count: 32)],
                                           expected: QuoteExpectation(nonce: [1], selection: SoftwareAK.selection, previous: previous))
        guard case .rebooted(let q, let p) = verdict else { Issue.record("\(verdict)"); return }
        #expect(q.continuity == .rebooted)
        #expect(p == previous)
    }
}

@Suite("Checks behind a valid signature")
struct SignedStructureTests {
    static let values = [[UInt8](repeating: 0, count: 32)]

    func verify(_ ak: SoftwareAK, _ attest: Attest, values: [[UInt8]] = values) -> QuoteVerdict {
        let bytes = attest.wireBytes
        return QuoteVerifier.verify(attest: bytes, signature: ak.sign(bytes), key: ak.key, pcrValues: values,
                                    expected: QuoteExpectation(nonce: [1, 2], selection: SoftwareAK.selection))
    }

    @Test func signedButNotGeneratedByATPM() throws {
        let ak = try SoftwareAK()
        var attest = try ak.attest(nonce: [1, 2], values: Self.values)
        #expect(verify(ak, attest).error == nil)
        attest.magic = 0xFF54_4348
        #expect(verify(ak, attest).error?.code == .badMagic)
    }

    @Test func notAQuote() throws {
        let ak = try SoftwareAK()
        var attest = try ak.attest(nonce: [1, 2], values: Self.values)
        attest.type = 0x8017 // TPM_ST_ATTEST_CERTIFY
        attest.attested = .other([0, 0])
        #expect(verify(ak, attest).error?.code == .notAQuote)
    }

    @Test func clockMustBeSafe() throws {
        let ak = try SoftwareAK()
        var attest = try ak.attest(nonce: [1, 2], values: Self.values)
        attest.clockInfo.safe = false
        #expect(verify(ak, attest).error?.code == .clockNotSafe)
    }

    @Test func claimedValuesMustHaveTheBankSize() throws {
        let ak = try SoftwareAK()
        let attest = try ak.attest(nonce: [1, 2], values: Self.values)
        #expect(verify(ak, attest, values: [[UInt8](repeating: 0, count: 20)]).error?.code == .malformedPCRValues)
        #expect(verify(ak, attest, values: []).error?.code == .malformedPCRValues)
    }

    @Test func unrestrictedKeysAreRefused() throws {
        let ak = try SoftwareAK(attributes: [.fixedTPM, .fixedParent, .sign, .userWithAuth])
        let unrestricted = #expect(throws: AttestationError.self) { try AttestationKey(ak.publicKey) }
        #expect(unrestricted?.code == .keyNotRestricted)
        let decrypting = try SoftwareAK(attributes: [.fixedTPM, .fixedParent, .sign, .restricted, .decrypt])
        let decrypt = #expect(throws: AttestationError.self) { try AttestationKey(decrypting.publicKey) }
        #expect(decrypt?.code == .keyNotRestricted)
    }
}

/// A P-256 key in software, presented as a restricted signing key: lets tests reach the checks that come after
/// the signature. It is not a TPM and is named for what it is.
struct SoftwareAK {
    static let selection = PCRSelectionList([PCRSelection(hash: .sha256, pcrs: [15])])
    let privateKey = P256.Signing.PrivateKey()
    let publicKey: Public
    let key: AttestationKey

    init(attributes: ObjectAttributes = [.fixedTPM, .fixedParent, .sensitiveDataOrigin, .userWithAuth, .restricted, .sign]) throws {
        let raw = Array(privateKey.publicKey.rawRepresentation)
        publicKey = Public(PublicArea(
            nameAlg: .sha256, objectAttributes: attributes, authPolicy: [],
            parameters: .ecc(symmetric: .null, scheme: Scheme(scheme: .ecdsa, hash: .sha256), curve: .nistP256, kdf: .null,
                             x: Array(raw.prefix(32)), y: Array(raw.suffix(32)))))
        key = (try? AttestationKey(publicKey)) ?? (try! AttestationKey(Public(AKType.eccP256.template.withPoint(raw))))
    }

    func attest(nonce: [UInt8], values: [[UInt8]], clock: ClockInfo = ClockInfo(clock: 1, resetCount: 0, restartCount: 0, safe: true)) throws -> Attest {
        Attest(qualifiedSigner: try publicKey.name, extraData: nonce, clockInfo: clock, firmwareVersion: 1,
               attested: .quote(QuoteInfo(pcrSelect: Self.selection, pcrDigest: try QuoteVerifier.pcrDigest(values, hash: .sha256))))
    }

    func sign(_ bytes: [UInt8]) -> [UInt8] {
        let sig = try! privateKey.signature(for: bytes).rawRepresentation
        return Signature.ecdsa(hash: .sha256, r: Array(sig.prefix(32)), s: Array(sig.suffix(32))).wireBytes
    }

    func quote(nonce: [UInt8], values: [[UInt8]], clock: ClockInfo) throws -> ([UInt8], [UInt8]) {
        let bytes = try attest(nonce: nonce, values: values, clock: clock).wireBytes
        return (bytes, sign(bytes))
    }
}

extension PublicArea {
    func withPoint(_ raw: [UInt8]) -> PublicArea {
        var copy = self
        if case .ecc(let sym, let scheme, let curve, let kdf, _, _) = parameters {
            copy.parameters = .ecc(symmetric: sym, scheme: scheme, curve: curve, kdf: kdf, x: Array(raw.prefix(32)), y: Array(raw.suffix(32)))
        }
        return copy
    }
}
