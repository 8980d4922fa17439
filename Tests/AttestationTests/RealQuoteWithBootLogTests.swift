import Attestation
import Foundation
import Policy
import Testing
import TPMWire

/// The quote a real Windows machine (Google Cloud Shielded VM, TPM 2.0) signed over its SHA-1 PCRs, with the
/// boot log taken at the same time (Vectors/bootlogs/windows-gcp-shielded-vm.*). Its AK is fixed to
/// RSASSA-SHA1, as on many real Windows machines.
struct RealQuote {
    let bundle: EvidenceBundle
    let log: [UInt8]

    static func load() throws -> RealQuote {
        let name = "windows-gcp-shielded-vm"
        let bundle = try EvidenceBundle.decode(try Data(contentsOf: try RealBootLog.url(name, "bundle.json")))
        return RealQuote(bundle: bundle, log: try RealBootLog.load(name).bytes)
    }
}

extension EvidenceBundle {
    /// Verifies a recorded quote: the AK pinned by the public area the machine's dump recorded (the bundle's,
    /// converted from it) and the nonce the quote was made for (`recordedNonce`; these old quotes have short
    /// or empty nonces, so the verifier's 16-byte minimum for fresh challenges does not apply).
    func verifyRecorded(nonce recordedNonce: [UInt8], allowSHA1Signatures: Bool = false) -> QuoteVerdict {
        do {
            let key = try AttestationKey(tpm2bPublic: try bytes(\.akPublic, "akPublic"))
            return verify(pinnedAK: .publicArea(key), freshness: .nonce(recordedNonce), selection: nil,
                          allowSHA1Signatures: allowSHA1Signatures)
        } catch {
            return .rejected(error)
        }
    }
}

@Suite("A real quote with its boot log")
struct RealQuoteWithBootLogTests {
    /// The bundle holds the dump's bytes: the AK's TPMT_PUBLIC behind its size, the attest and signature as they
    /// were, the machine's PCRs and its log.
    @Test func bundleIsTheDumpsQuote() throws {
        let quote = try RealQuote.load()
        let fields = try JSONDecoder().decode([String: String].self,
                                              from: try Data(contentsOf: try RealBootLog.url("windows-gcp-shielded-vm", "quote.json")))
        let areaText = try #require(fields["akPublic"])
        let area = try #require(Data(base64Encoded: areaText))
        let akPublic = try quote.bundle.bytes(\.akPublic, "akPublic")
        #expect(akPublic.count == area.count + 2 && Array(akPublic.dropFirst(2)) == [UInt8](area))
        #expect(quote.bundle.attest == fields["attest"] && quote.bundle.signature == fields["signature"])
        #expect(try quote.bundle.bootLogBytes() == quote.log)
        let machine = try RealBootLog.load("windows-gcp-shielded-vm")
        let values = try quote.bundle.values(for: try quote.bundle.selection())
        #expect(values == (0...23).map { machine.pcrs[.sha1]?[$0] ?? [] })
    }

    @Test func sha1SignatureIsAWeakHashNotABadSignature() throws {
        let quote = try RealQuote.load()
        let verdict = quote.bundle.verifyRecorded(nonce: [])
        #expect(verdict.error?.code == .weakHash, "\(String(describing: verdict.error))")
    }

    @Test func allowedForLegacyFleetsAndTheLogReplaysToTheQuote() throws {
        let quote = try RealQuote.load()
        let verified = try #require(quote.bundle.verifyRecorded(nonce: [], allowSHA1Signatures: true).verified)
        let quoted = PCRBanks(verified)
        #expect(quoted.values[.sha1]?.count == 24)
        let check = BootLogVerification(bytes: try #require(try quote.bundle.bootLogBytes()), against: quoted)
        #expect(check.matches, "\(check.summary)")
        #expect(check.compared == ["sha1:" + (0...23).map(String.init).joined(separator: ",")]
            || check.compared.first?.hasPrefix("sha1:0,1,2,3,4,5,6,7,8,9") == true)
    }

    @Test func aFlippedSignatureByteIsABadSignatureEvenWhenSHA1IsAllowed() throws {
        var quote = try RealQuote.load()
        var signature = try quote.bundle.bytes(\.signature, "signature")
        signature[signature.count - 1] ^= 0x01
        quote = RealQuote(bundle: { var b = quote.bundle; b.signature = Data(signature).base64EncodedString(); return b }(),
                          log: quote.log)
        #expect(quote.bundle.verifyRecorded(nonce: [], allowSHA1Signatures: true).error?.code == .badSignature)
        #expect(quote.bundle.verifyRecorded(nonce: []).error?.code == .badSignature)
    }

    /// A log cut after an event no longer replays: the check names the first event the quote accounts for no
    /// more; another machine's log diverges too; garbage is a coded parse error.
    @Test func divergenceNamesTheFirstEvent() throws {
        let quote = try RealQuote.load()
        let quoted = PCRBanks(try #require(quote.bundle.verifyRecorded(nonce: [], allowSHA1Signatures: true).verified))
        let log = try BootEventLog(bytes: quote.log)
        // Add a copy of the last event: the quote is reached before it, so it is the divergence.
        let last = try #require(log.events.last)
        let extended = quote.log + quote.log[last.offset..<(last.offset + last.size)]
        let padded = BootLogVerification(bytes: extended, against: quoted)
        #expect(!padded.matches)
        #expect(padded.code == "eventlog.replay-mismatch")
        #expect(padded.divergence?.event == log.events.count)
        #expect(padded.divergence?.pcr == last.pcrIndex)

        // Change one digest of an early event: no prefix reaches the quote; the first event of that PCR is named.
        let target = log.events[5]
        var edited = quote.log
        edited[target.offset + 8] ^= 0xFF  // first byte of its SHA-1 digest
        let changed = BootLogVerification(bytes: edited, against: quoted)
        #expect(changed.divergence?.pcr == target.pcrIndex)
        let firstOfPCR = try #require(log.events.first { $0.extends && $0.pcrIndex == target.pcrIndex })
        #expect(changed.divergence?.event == firstOfPCR.index)

        let other = BootLogVerification(bytes: try RealBootLog.load("debian-10").bytes, against: quoted)
        #expect(other.code == "eventlog.replay-mismatch")
        let garbage = BootLogVerification(bytes: [1, 2, 3], against: quoted)
        #expect(garbage.code == "eventlog.truncated")
        // A quote over SHA-256 PCRs says nothing about a SHA-1-only log.
        var sha256Only = PCRBanks()
        sha256Only[.sha256, 0] = [UInt8](repeating: 0, count: 32)
        #expect(BootLogVerification(bytes: quote.log, against: sha256Only).code == "eventlog.not-quoted")
    }
}

/// Three quotes a Google Cloud COS instance signed (RSASSA-SHA256) over all 24 PCRs of its SHA-1, SHA-256 and
/// SHA-384 banks for nonce 0x9009, with its boot log (Vectors/bootlogs/gce-cos-85-nonce9009.*).
@Suite("Real quotes over three banks with their boot log")
struct RealMultiBankQuoteTests {
    @Test(arguments: ["sha1", "sha256", "sha384"])
    func quoteVerifiesAndTheLogReplaysToIt(_ bank: String) throws {
        let url = try RealBootLog.url("gce-cos-85-nonce9009.\(bank)", "bundle.json")
        let bundle = try EvidenceBundle.decode(try Data(contentsOf: url))
        let verdict = bundle.verifyRecorded(nonce: [0x90, 0x09])
        let verified = try #require(verdict.verified, "\(String(describing: verdict.error))")
        let quoted = PCRBanks(verified)
        #expect(quoted.values.keys.map(\.name) == [bank])
        let check = BootLogVerification(bytes: try #require(try bundle.bootLogBytes()), against: quoted)
        #expect(check.matches, "\(check.summary)")
        #expect(check.compared.first?.hasPrefix("\(bank):0,1,2,3,4,5,6,7,8,9") == true, "\(check.compared)")
        // Another nonce is refused: the quotes are bound to 0x9009.
        #expect(bundle.verifyRecorded(nonce: [0x90, 0x0A]).error?.code == .nonceMismatch)
    }
}
