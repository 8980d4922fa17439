import CoreMetrics
package import Attestation
import Foundation
import Policy
package import TPMWire

/// Judges one evidence bundle about one host against what the RC-TCB holds: the host's enrolled AK, the nonce the
/// RC-TCB issued, the clock of the last quote it recorded, the host's golden values and, after a reboot, its boot
/// log. Pure (no I/O, no state): the caller decides what a judgement does to the IVT, because the same failure means
/// different things in a reporter's hands and in the RC-TCB's own challenge.
package struct EvidenceJudge: Sendable {
    package let selection: PCRSelectionList
    let metrics: RegionMetrics

    init(selection: PCRSelectionList, metrics: RegionMetrics) {
        self.selection = selection
        self.metrics = metrics
    }

    package enum Judgement: Sendable {
        case trusted(VerifiedQuote)
        /// The TPM was reset or restarted since the last quote, or was and its boot log has not replayed yet.
        case rebooted(VerifiedQuote, code: String, detail: String)
        /// A verified quote of a bad state (golden values).
        case untrusted(VerifiedQuote, code: String, detail: String)
        /// A verified quote older than the one recorded (its TPM clock, reset or restart count went back).
        case clockWentBack(code: String, detail: String)
        /// A verified quote of a rebooted host whose boot log does not replay (or is missing).
        case bootLogRefused(VerifiedQuote, code: String, detail: String)
        /// The evidence does not verify (signature, nonce, AK, PCR digest, a measurement log that does not replay to
        /// the signed PCR): it proves nothing about the host.
        case refuted(code: String, detail: String)
    }

    /// The IVT's side of a verification: the host's enrolled AK and its row.
    package typealias Inputs = (key: AttestationKey?, row: IVTRow?)

    func judge(_ cfg: RegionState.HostConfig, _ bundle: EvidenceBundle, _ inputs: Inputs, nonce: [UInt8]) -> Judgement {
        let started = ContinuousClock.now
        let j = judgeUntimed(cfg, bundle, inputs, nonce: nonce)
        metrics.latency.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
        switch j {
        case .trusted, .rebooted: metrics.verified.increment()
        case .untrusted(_, let code, _), .refuted(let code, _), .clockWentBack(let code, _), .bootLogRefused(_, let code, _):
            metrics.refused.increment()
            metrics.failure(code)
        }
        return j
    }

    func judgeUntimed(_ cfg: RegionState.HostConfig, _ bundle: EvidenceBundle, _ inputs: Inputs, nonce: [UInt8]) -> Judgement {
        guard let ak = inputs.key else {
            return .refuted(code: RegionError.Code.notEnrolled.rawValue, detail: "\(cfg.id) has no enrolled AK")
        }
        guard bundle.hostId == cfg.id else {
            return .refuted(code: AttestationError.Code.hostMismatch.rawValue, detail: "the bundle names host '\(bundle.hostId.prefix(64))', not \(cfg.id)")
        }
        let row = inputs.row
        var previous: ClockObservation?
        if let row, let c = row.tpmClock, let r = row.resetCount, let s = row.restartCount {
            previous = ClockObservation(clock: c, resetCount: r, restartCount: s)
        }
        // Leaving `rebooted` takes a boot log that replays to the quoted boot PCRs (and its golden boot events),
        // whatever state the host was in since the reboot; unless the operator accepted the reboot (any verified
        // quote will do), or the host's policy accepts a reset without a boot log (one that is sent must replay).
        // The measurement log is checked by the golden values (a log that does not replay refutes the evidence); for a
        // host without golden values it is checked as a claim of the bundle, so it must replay to the signed PCR too.
        let rule = Appraisal.BootLogRule.whenAwaited(
            awaiting: row?.state == .rebooted || row?.bootLogPending == true, rebootAccepted: row?.rebootAcceptance != nil,
            optional: cfg.bootLog == .optional, missingHint: "the operator accepts the reboot (rctcb accept-reboot HOST --reason TEXT)")
        let appraisal = Appraisal(pin: .publicArea(ak), freshness: .nonce(nonce), selection: selection, previous: previous,
                                  checkClaims: cfg.golden == nil, golden: cfg.golden, bootLogRule: rule).appraise(bundle)
        let code = appraisal.code ?? "", detail = appraisal.detail ?? ""
        guard let quote = appraisal.quote.verified else {
            return appraisal.verdict == .clockWentBack ? .clockWentBack(code: code, detail: detail) : .refuted(code: code, detail: detail)
        }
        switch appraisal.verdict {
        case .trusted: return .trusted(quote)
        case .rebooted: return .rebooted(quote, code: code, detail: detail)
        case .untrusted: return .untrusted(quote, code: code, detail: detail)
        case .bootLogRefused: return .bootLogRefused(quote, code: code, detail: detail)
        case .clockWentBack: return .clockWentBack(code: code, detail: detail)
        case .refuted: return .refuted(code: code, detail: detail)
        }
    }
}

extension QuoteFacts {
    /// `inputs`: what the quote was verified with; the enrolled AK's Name is recorded with the facts.
    init(_ q: VerifiedQuote, at now: Date, verifiedWith inputs: EvidenceJudge.Inputs) {
        self.init(verifiedAt: now, tpmClock: q.clock.clock, resetCount: q.clock.resetCount, restartCount: q.clock.restartCount,
                  pcrDigest: Hex.encode(q.quoteInfo.pcrDigest), akName: inputs.row?.akName)
    }
}
