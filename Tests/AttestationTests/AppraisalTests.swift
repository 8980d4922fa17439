import Attestation
import Foundation
import Testing
import TPMWire

/// One appraisal, its typed result, over a real quote with its boot log (a Google Cloud COS instance,
/// Vectors/bootlogs/gce-cos-85-nonce9009.sha256.*): the decision, code and detail that `smig-attest verify` and the
/// RC-TCB's judge word in their own ways.
@Suite("Appraisal")
struct AppraisalTests {
    static let nonce: [UInt8] = [0x90, 0x09]

    static func bundle() throws -> EvidenceBundle {
        try EvidenceBundle.decode(try Data(contentsOf: try RealBootLog.url("gce-cos-85-nonce9009.sha256", "bundle.json")))
    }

    static func appraisal(_ bundle: EvidenceBundle, nonce: [UInt8] = nonce, rule: Appraisal.BootLogRule) throws -> Appraisal.Result {
        let key = try AttestationKey(tpm2bPublic: try bundle.bytes(\.akPublic, "akPublic"))
        return Appraisal(pin: .publicArea(key), freshness: .nonce(nonce), selection: nil, bootLogRule: rule).appraise(bundle)
    }

    static func awaited(accepted: Bool = false, optional: Bool = false) -> Appraisal.BootLogRule {
        .whenAwaited(awaiting: true, rebootAccepted: accepted, optional: optional, missingHint: "accept it")
    }

    /// The bundle's log with its last event once more: it parses, but the quote is reached before the copy.
    static func withEditedLog(_ bundle: EvidenceBundle) throws -> EvidenceBundle {
        let log = try #require(try bundle.bootLogBytes())
        let last = try #require(try BootEventLog(bytes: log).events.last)
        var edited = bundle
        edited.bootLog = Data(log + log[last.offset..<(last.offset + last.size)]).base64EncodedString()
        return edited
    }

    @Test func aQuoteWhoseBootLogReplaysIsTrusted() throws {
        for rule in [Appraisal.BootLogRule.whenPresent, Self.awaited()] {
            let r = try Self.appraisal(try Self.bundle(), rule: rule)
            #expect(r.verdict == .trusted && r.code == nil, "\(r.verdict) \(r.code ?? "")")
            #expect(r.bootLog?.matches == true)
        }
    }

    @Test func anotherNonceRefutesTheEvidence() throws {
        let r = try Self.appraisal(try Self.bundle(), nonce: [0x90, 0x0A], rule: .whenPresent)
        #expect(r.verdict == .refuted)
        #expect(r.code == AttestationError.Code.nonceMismatch.rawValue)
        #expect(r.quote.verified == nil && r.bootLog == nil && r.failingMeasurements.isEmpty)
    }

    @Test func aMissingBootLogIsRefusedOnlyWhereOneIsAwaitedAndNeeded() throws {
        var bundle = try Self.bundle()
        bundle.bootLog = nil
        let refused = try Self.appraisal(bundle, rule: Self.awaited())
        #expect(refused.verdict == .bootLogRefused)
        #expect(refused.code == AttestationError.Code.bootLogMissing.rawValue)
        #expect(refused.detail?.hasSuffix("or accept it") == true, "\(refused.detail ?? "")")
        #expect(try Self.appraisal(bundle, rule: Self.awaited(optional: true)).verdict == .trusted)
        #expect(try Self.appraisal(bundle, rule: Self.awaited(accepted: true)).verdict == .trusted)
        #expect(try Self.appraisal(bundle, rule: .whenPresent).verdict == .trusted)
        let notAwaited = Appraisal.BootLogRule.whenAwaited(awaiting: false, rebootAccepted: false, optional: false, missingHint: "")
        #expect(try Self.appraisal(bundle, rule: notAwaited).verdict == .trusted)
    }

    @Test func aBootLogThatDoesNotReplayIsRefusedUnlessTheRebootWasAccepted() throws {
        let bundle = try Self.withEditedLog(try Self.bundle())
        for rule in [Appraisal.BootLogRule.whenPresent, Self.awaited(), Self.awaited(optional: true)] {
            let r = try Self.appraisal(bundle, rule: rule)
            #expect(r.verdict == .bootLogRefused, "\(r.verdict)")
            #expect(r.code == "eventlog.replay-mismatch", "\(r.code ?? "")")
            #expect(r.bootLog?.matches == false)
        }
        #expect(try Self.appraisal(bundle, rule: Self.awaited(accepted: true)).verdict == .trusted)
    }
}
