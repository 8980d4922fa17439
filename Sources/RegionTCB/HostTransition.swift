package import Foundation

/// What a verified quote says about the TPM that signed it, as the IVT records it.
package struct QuoteFacts: Sendable, Hashable {
    /// RC-TCB clock when the quote was verified.
    package var verifiedAt: Date
    package var tpmClock: UInt64
    package var resetCount: UInt32
    package var restartCount: UInt32
    package var pcrDigest: String
    /// The Name of the enrolled AK the quote was verified with, as the row keeps it (nil: not known, in fixtures).
    package var akName: String?

    package init(verifiedAt: Date, tpmClock: UInt64, resetCount: UInt32, restartCount: UInt32, pcrDigest: String, akName: String? = nil) {
        self.verifiedAt = verifiedAt
        self.tpmClock = tpmClock
        self.resetCount = resetCount
        self.restartCount = restartCount
        self.pcrDigest = pcrDigest
        self.akName = akName
    }
}

/// The only inputs that change a host's state in the IVT: what the RC-TCB concluded from evidence it verified in
/// full (or from its own challenge going unanswered), the scheduler's freshness rule, and the evacuation's own steps.
package enum HostVerdict: Sendable, Hashable {
    /// Genuine evidence of a good state.
    case trusted(QuoteFacts, measuredBy: String)
    /// Genuine evidence that the TPM was reset or restarted (or was, and no boot log has replayed since).
    case rebooted(QuoteFacts, measuredBy: String, code: String, detail: String)
    /// Genuine evidence of a bad state, confirmed by the RC-TCB's own challenge. Quote facts when the quote verified.
    case untrusted(QuoteFacts?, measuredBy: String, code: String, detail: String)
    /// The RC-TCB's own challenge went unanswered.
    case unreachable(detail: String)
    /// No verified quote since `before` (the freshness window's start): a row verified since is not made stale.
    case stale(before: Date, detail: String)
    /// The evacuation started (its cause is kept with it) or finished.
    case evacuating(cause: String?, detail: String?)
    case evacuated(cause: String?, detail: String?)
    /// The evacuation is over without emptying the host (nothing is left to move, or the policy resumed its VMs in
    /// place after it proved good): the host takes the state its latest verdict gave it (``IVTRow/verdictState``).
    case evacuationEnded(detail: String)
    /// The enrolment's and the operator's steps: a new AK enrolled, the host revoked, the host re-admitted. Each is
    /// its own audit event (kind `enrolled`, `revoked`, `readmitted`), written whether or not the state changes.
    case enrolled(detail: String)
    case revoked
    case readmitted(detail: String)

    /// The state this verdict would give a host that is not being evacuated.
    package var state: HostState {
        switch self {
        case .trusted: .trusted
        case .rebooted: .rebooted
        case .untrusted: .untrusted
        case .unreachable: .unreachable
        case .stale: .stale
        case .evacuating: .evacuating
        case .evacuated: .evacuated
        case .evacuationEnded, .enrolled, .readmitted: .unknown
        case .revoked: .untrusted
        }
    }

    /// A verdict on a host's evidence (its quote judged), not on its silence, the evacuation or its enrolment.
    var isOnEvidence: Bool {
        switch self {
        case .trusted, .rebooted, .untrusted: true
        default: false
        }
    }

    /// The verified quote's facts of a verdict on evidence (nil when it has none).
    var facts: QuoteFacts? {
        switch self {
        case .trusted(let q, _), .rebooted(let q, _, _, _): q
        case .untrusted(let q, _, _, _): q
        default: nil
        }
    }

    /// The audit event kind of a verdict that is an event of its own, whatever it does to the state.
    var ownEvent: String? {
        switch self {
        case .enrolled: "enrolled"
        case .revoked: "revoked"
        case .readmitted: "readmitted"
        default: nil
        }
    }
}

/// An audit event a transition writes with its row.
package struct TransitionEvent: Sendable, Hashable {
    package var kind: String
    package var old: HostState
    package var new: HostState
    package var code: String?
    package var detail: String?

    package init(kind: String, old: HostState, new: HostState, code: String?, detail: String?) {
        (self.kind, self.old, self.new, self.code, self.detail) = (kind, old, new, code, detail)
    }
}

/// The one rule for how a verdict changes a host's row: (old row, verdict) → new row and its audit event. Pure; the
/// IVT store applies it inside the transaction that reads the old row, and everything that reports a change (the
/// log, the API answer, the state observer, the metrics) reports what this returned.
///
/// - An evacuation is ended only by the evacuation: while `evacuating`, verdicts record their quote facts and the
///   verdict's own state (``IVTRow/verdictState``) but neither the state nor the evacuation's cause changes.
/// - An `evacuated` host becomes `trusted` or `rebooted` again only on verified evidence.
/// - A host proven bad stays `untrusted` until verified evidence says otherwise: silence and staleness do not clear it.
/// - `stale` only ever replaces `trusted`; `unreachable` is not made `stale`.
/// - A reboot is remembered whatever the state (``IVTRow/bootLogPending``) until a boot log replays, which is what
///   a `trusted` verdict of a host with a pending boot log means.
package enum HostTransition {
    package struct Result: Sendable, Hashable {
        package var row: IVTRow
        package var event: TransitionEvent?
        /// A second audit event the verdict writes after `event`: `reboot-accepted` when a reboot is trusted without
        /// a boot log that replayed (the operator's acceptance, or the host's `boot-log: optional`).
        package var note: TransitionEvent? = nil
    }

    /// `judgedUnder`: the digest of the policy the verdict's evidence was judged against (``LoadedRegionPolicy``);
    /// a verdict on evidence records it in the row. `bootLogSent`: whether the evidence behind the verdict carried a
    /// boot log (nil: not known).
    package static func apply(_ verdict: HostVerdict, to old: IVTRow, judgedUnder policyDigest: String? = nil, bootLogSent: Bool? = nil,
                              now: Date) -> Result {
        let verdict = verdict.storable
        // A verdict on evidence was reached on the enrolment as read before it was written (verification and write
        // are not one transaction). When the host has been revoked since, or enrolled another AK than the one the
        // quote was verified with, the verdict is about no AK of the region's: it leaves the row as it is.
        if verdict.isOnEvidence, old.revoked || verdict.facts?.akName.map({ $0 != old.akName }) == true {
            return Result(row: old, event: nil)
        }
        var row = old
        row.verdictState = verdict.state
        switch verdict {
        case .trusted, .rebooted, .untrusted: row.policyDigest = policyDigest ?? row.policyDigest
        default: break
        }
        switch verdict {
        case .trusted(let q, let by):
            record(q, by: by, in: &row)
            row.bootLogPending = false
            row.rebootAcceptance = nil
        case .rebooted(let q, let by, _, _):
            record(q, by: by, in: &row)
            row.bootLogPending = true
        case .untrusted(let q, let by, _, _):
            if let q { record(q, by: by, in: &row) } else { row.measuredBy = by }
        case .unreachable:
            row.measuredBy = "rc-tcb"
        case .stale, .evacuating, .evacuated, .evacuationEnded:
            row.verdictState = old.verdictState
        case .enrolled, .readmitted, .revoked:
            // A new AK (or none) starts a new history: no verdict about it yet.
            row.verdictState = nil
        }
        let new = nextState(old, verdict)
        if new != old.state || (new == verdict.state && !isEvacuation(old.state)) {
            // The row carries the reason for the state it is in: the verdict's, or the evacuation's cause.
            switch verdict {
            case .trusted: (row.failureCode, row.failureDetail) = (nil, nil)
            case .rebooted(_, _, let code, let detail), .untrusted(_, _, let code, let detail): (row.failureCode, row.failureDetail) = (code, detail)
            case .unreachable(let detail): (row.failureCode, row.failureDetail) = (RegionError.Code.hostUnreachable.rawValue, detail)
            case .stale(_, let detail): (row.failureCode, row.failureDetail) = (RegionError.Code.quoteStale.rawValue, detail)
            case .evacuating(let cause, let detail), .evacuated(let cause, let detail):
                (row.failureCode, row.failureDetail) = (cause ?? old.failureCode, detail ?? old.failureDetail)
            case .evacuationEnded(let detail):
                if new == .trusted { (row.failureCode, row.failureDetail) = (nil, detail) }
            case .enrolled, .readmitted: (row.failureCode, row.failureDetail) = (nil, nil)
            case .revoked: (row.failureCode, row.failureDetail) = (RegionError.Code.revoked.rawValue, "revoked by the operator")
            }
        }
        row.state = new
        row.version = old.version + 1
        row.updatedAt = now
        var event = new == old.state ? nil
            : TransitionEvent(kind: "state", old: old.state, new: new, code: row.failureCode, detail: row.failureDetail)
        if let kind = verdict.ownEvent {
            let detail: String? = switch verdict {
            case .enrolled(let d), .readmitted(let d): d
            default: nil
            }
            event = TransitionEvent(kind: kind, old: old.state, new: new, code: row.failureCode, detail: detail)
        }
        return Result(row: row, event: event, note: rebootAccepted(verdict, old: old, new: new, bootLogSent: bootLogSent))
    }

    /// The `reboot-accepted` event of a `trusted` verdict on a host whose reboot waited for a boot log: accepted by
    /// the operator (``IVTRow/rebootAcceptance``), or without a boot log as the host's policy allows. Nil when a
    /// boot log replayed (the ordinary way back) or nothing was pending.
    static func rebootAccepted(_ verdict: HostVerdict, old: IVTRow, new: HostState, bootLogSent: Bool?) -> TransitionEvent? {
        guard case .trusted = verdict, old.bootLogPending else { return nil }
        if let reason = old.rebootAcceptance {
            return TransitionEvent(kind: "reboot-accepted", old: old.state, new: new, code: RegionError.Code.rebootAcceptedByOperator.rawValue,
                                   detail: "the reboot was accepted by the operator: \(reason)")
        }
        guard bootLogSent == false else { return nil }
        return TransitionEvent(kind: "reboot-accepted", old: old.state, new: new, code: RegionError.Code.rebootAcceptedWithoutBootLog.rawValue,
                               detail: "TPM reset accepted without a boot log (region policy: boot-log: optional)")
    }

    /// The state table: rows are the old state, the verdict decides within the rules above.
    package static func nextState(_ oldRow: IVTRow, _ verdict: HostVerdict) -> HostState {
        let old = oldRow.state
        switch verdict {
        case .evacuating: return .evacuating
        case .evacuated: return .evacuated
        case .enrolled, .readmitted, .revoked:
            // An evacuation in progress is the evacuation's to end; the revocation flag and the AK change anyway.
            return old == .evacuating ? .evacuating : verdict.state
        case .evacuationEnded:
            guard isEvacuation(old) else { return old }
            // A reboot not yet followed by a replaying boot log is still a reboot.
            return oldRow.bootLogPending ? .rebooted : oldRow.verdictState ?? .unknown
        default: break
        }
        switch old {
        case .evacuating:
            return .evacuating
        case .evacuated:
            return [.trusted, .rebooted].contains(verdict.state) ? verdict.state : .evacuated
        case .untrusted:
            return [.unreachable, .stale].contains(verdict.state) ? .untrusted : verdict.state
        case .trusted:
            if case .stale(let before, _) = verdict, let last = oldRow.lastQuoteAt, last >= before { return .trusted }
            return verdict.state
        case .unknown, .unreachable, .stale, .rebooted:
            return verdict.state == .stale ? old : verdict.state
        }
    }

    static func isEvacuation(_ s: HostState) -> Bool { s == .evacuating || s == .evacuated }

    static func record(_ q: QuoteFacts, by: String, in row: inout IVTRow) {
        row.lastQuoteAt = q.verifiedAt
        row.tpmClock = q.tpmClock
        row.resetCount = q.resetCount
        row.restartCount = q.restartCount
        row.lastPCRDigest = q.pcrDigest
        row.measuredBy = by
    }
}
