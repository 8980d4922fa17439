import Foundation
import Migration
import RegionTCB
import Testing

/// The one rule for host transitions, for every (state, verdict) pair: the state it leads to, the reason the row
/// carries, what is remembered of the quote and the reboot, and the audit event.
@Suite("Host transitions")
struct HostTransitionTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    static let facts = QuoteFacts(verifiedAt: now, tpmClock: 99, resetCount: 3, restartCount: 1, pcrDigest: "ab")

    enum V: String, CaseIterable, Sendable {
        case trusted, rebooted, untrusted, untrustedNoQuote, unreachable, staleOld, staleFresh, evacuating, evacuated, ended
        case enrolled, revoked, readmitted

        var verdict: HostVerdict {
            switch self {
            case .trusted: .trusted(facts, measuredBy: "h2")
            case .rebooted: .rebooted(facts, measuredBy: "h2", code: "quote.rebooted", detail: "reset")
            case .untrusted: .untrusted(facts, measuredBy: "rc-tcb", code: "golden.digest-not-allowed", detail: "bad")
            case .untrustedNoQuote: .untrusted(nil, measuredBy: "rc-tcb", code: "quote.bad-signature", detail: "forged")
            case .unreachable: .unreachable(detail: "silent")
            // The row's last quote is an hour old: older than the window's start, or (fresh) verified since.
            case .staleOld: .stale(before: now.addingTimeInterval(-60), detail: "old")
            case .staleFresh: .stale(before: now.addingTimeInterval(-7200), detail: "old")
            case .evacuating: .evacuating(cause: "golden.digest-not-allowed", detail: "cause")
            case .evacuated: .evacuated(cause: nil, detail: nil)
            case .ended: .evacuationEnded(detail: "proved good again")
            case .enrolled: .enrolled(detail: "AK 000b…")
            case .revoked: .revoked
            case .readmitted: .readmitted(detail: "may enrol with the same EK")
            }
        }
    }

    static func row(_ state: HostState, verdictState: HostState? = nil, bootLogPending: Bool = false) -> IVTRow {
        IVTRow(host: "h1", address: "127.0.0.1", state: state, akName: "000b", ekCertificate: nil, enrolledAt: nil, revoked: false,
               lastQuoteAt: now.addingTimeInterval(-3600), tpmClock: 1, resetCount: 3, restartCount: 1, lastPCRDigest: "00", measuredBy: "h3",
               failureCode: state == .trusted || state == .unknown ? nil : "old.cause", failureDetail: state == .trusted ? nil : "old detail",
               policyName: "p", policyDigest: "00", vms: [], capacity: nil, version: 7, updatedAt: now.addingTimeInterval(-3600),
               bootLogPending: bootLogPending, verdictState: verdictState)
    }

    /// The expected state for each (old state, verdict).
    static func expected(_ old: HostState, _ v: V, verdictState: HostState?) -> HostState {
        switch v {
        case .evacuating: return .evacuating
        case .evacuated: return .evacuated
        case .ended: return [.evacuating, .evacuated].contains(old) ? (verdictState ?? .unknown) : old
        case .enrolled, .readmitted: return old == .evacuating ? .evacuating : .unknown
        case .revoked: return old == .evacuating ? .evacuating : .untrusted
        default: break
        }
        switch old {
        case .evacuating: return .evacuating
        case .evacuated: return [.trusted, .rebooted].contains(v) ? HostState(rawValue: v.rawValue)! : .evacuated
        case .untrusted:
            switch v {
            case .unreachable, .staleOld, .staleFresh: return .untrusted
            case .untrustedNoQuote: return .untrusted
            default: return HostState(rawValue: v.rawValue)!
            }
        case .trusted:
            switch v {
            case .staleOld: return .stale
            case .staleFresh: return .trusted
            case .untrustedNoQuote: return .untrusted
            default: return HostState(rawValue: v.rawValue)!
            }
        case .unknown, .unreachable, .stale, .rebooted:
            switch v {
            case .staleOld, .staleFresh: return old
            case .untrustedNoQuote: return .untrusted
            default: return HostState(rawValue: v.rawValue)!
            }
        }
    }

    /// The attacker's race: its evidence is verified against the enrolment as read, the operator revokes the host,
    /// then the verdict is written. A verdict on evidence leaves a revoked row exactly as it is (no state, quote,
    /// reason or event); silence and the evacuation's steps still apply.
    @Test(arguments: [HostState.untrusted, .evacuating, .evacuated], [V.trusted, .rebooted, .untrusted, .untrustedNoQuote])
    func aVerdictOnEvidenceLeavesARevokedRowAsItIs(old: HostState, v: V) {
        var before = Self.row(old, verdictState: .untrusted)
        before.revoked = true
        let r = HostTransition.apply(v.verdict, to: before, now: Self.now)
        #expect(r.row == before && r.event == nil && r.note == nil)
        let silent = HostTransition.apply(V.unreachable.verdict, to: before, now: Self.now)
        #expect(silent.row.version == before.version + 1 && silent.row.state == Self.expected(old, .unreachable, verdictState: .untrusted))
    }

    /// A verdict on a quote verified with another AK than the row's enrolment (enrolled again in between) leaves the
    /// row as it is; the same verdict with the row's AK applies.
    @Test(arguments: [V.trusted, .rebooted, .untrusted])
    func aVerdictOnAnotherAKsQuoteLeavesTheRowAsItIs(v: V) {
        let before = Self.row(.unknown)
        func verdict(_ ak: String) -> HostVerdict {
            var f = Self.facts
            f.akName = ak
            return switch v.verdict {
            case .trusted(_, let by): .trusted(f, measuredBy: by)
            case .rebooted(_, let by, let code, let detail): .rebooted(f, measuredBy: by, code: code, detail: detail)
            case .untrusted(_, let by, let code, let detail): .untrusted(f, measuredBy: by, code: code, detail: detail)
            default: v.verdict
            }
        }
        let other = HostTransition.apply(verdict("000bff"), to: before, now: Self.now)
        #expect(other.row == before && other.event == nil)
        let own = HostTransition.apply(verdict(before.akName ?? ""), to: before, now: Self.now)
        #expect(own.row.state == Self.expected(.unknown, v, verdictState: nil) && own.row.version == before.version + 1)
    }

    @Test(arguments: HostState.allCases, V.allCases)
    func everyStateAndVerdict(old: HostState, v: V) {
        let before = Self.row(old, verdictState: .trusted)
        let r = HostTransition.apply(v.verdict, to: before, now: Self.now)
        let want = Self.expected(old, v, verdictState: .trusted)
        #expect(r.row.state == want, "\(old) + \(v) → \(r.row.state), want \(want)")
        // One audit event exactly when the state changed, naming both states and the row's reason; enrolment,
        // revocation and readmission are always an event of their own kind.
        if [.enrolled, .revoked, .readmitted].contains(v) {
            #expect(r.event?.kind == v.rawValue && r.event?.old == old && r.event?.new == want)
        } else if want == old {
            #expect(r.event == nil)
        } else {
            #expect(r.event == TransitionEvent(kind: "state", old: old, new: want, code: r.row.failureCode, detail: r.row.failureDetail))
        }
        #expect(r.row.version == before.version + 1 && r.row.updatedAt == Self.now)
        // Quote facts are recorded whatever the state (an evacuation included); the reboot is remembered.
        switch v {
        case .trusted, .rebooted, .untrusted:
            #expect(r.row.tpmClock == 99 && r.row.lastQuoteAt == Self.now && r.row.lastPCRDigest == "ab")
        default:
            #expect(r.row.tpmClock == 1 && r.row.lastQuoteAt == before.lastQuoteAt)
        }
        #expect(r.row.bootLogPending == (v == .rebooted))
        // The latest verdict's own state is kept beside the row's state.
        let verdictStates: [V: HostState] = [.trusted: .trusted, .rebooted: .rebooted, .untrusted: .untrusted, .untrustedNoQuote: .untrusted,
                                            .unreachable: .unreachable]
        #expect(r.row.verdictState == ([.enrolled, .revoked, .readmitted].contains(v) ? nil : verdictStates[v] ?? .trusted))
        // The reason: an evacuation keeps its cause; a state a verdict did not change keeps its reason.
        if want == old, [.evacuating, .evacuated].contains(old) || v.verdict.state != want {
            #expect(r.row.failureCode == before.failureCode && r.row.failureDetail == before.failureDetail, "\(old) + \(v)")
        }
        if want == .trusted, v == .trusted { #expect(r.row.failureCode == nil) }
    }

    /// An evacuating host that reboots keeps evacuating, and the reboot is not forgotten when the evacuation ends.
    @Test func aRebootDuringAnEvacuationIsRemembered() {
        var row = Self.row(.evacuating, verdictState: .untrusted)
        row = HostTransition.apply(.rebooted(Self.facts, measuredBy: "rc-tcb", code: "quote.rebooted", detail: "reset"), to: row, now: Self.now).row
        #expect(row.state == .evacuating && row.bootLogPending)
        row = HostTransition.apply(.evacuated(cause: nil, detail: nil), to: row, now: Self.now).row
        #expect(row.state == .evacuated && row.bootLogPending)
        // The end of an evacuation of a host with a pending boot log is `rebooted`, not its last verdict.
        let ended = HostTransition.apply(.evacuationEnded(detail: "x"), to: Self.row(.evacuating, verdictState: .trusted, bootLogPending: true), now: Self.now)
        #expect(ended.row.state == .rebooted)
    }

    /// The cause of an evacuation survives every later verdict.
    @Test func theCauseOfAnEvacuationIsKept() {
        var row = Self.row(.untrusted)
        row.failureCode = "golden.digest-not-allowed"
        row = HostTransition.apply(.evacuating(cause: "golden.digest-not-allowed", detail: "hv changed"), to: row, now: Self.now).row
        for v in V.allCases where ![.evacuated, .ended].contains(v) {
            row = HostTransition.apply(v.verdict, to: row, now: Self.now).row
            #expect(row.state == .evacuating && row.failureCode == "golden.digest-not-allowed", "after \(v)")
        }
    }

    /// A verdict on evidence records the policy it was judged under; the other verdicts keep the row's.
    @Test(arguments: V.allCases)
    func theJudgingPolicyIsRecorded(_ v: V) {
        let row = HostTransition.apply(v.verdict, to: Self.row(.trusted), judgedUnder: "ff", now: Self.now).row
        let judged: Set<V> = [.trusted, .rebooted, .untrusted, .untrustedNoQuote]
        #expect(row.policyDigest == (judged.contains(v) ? "ff" : "00"))
    }
    /// Every text of every kind of verdict is kept without U+0000 (U+FFFD in its place): PostgreSQL's text cannot hold
    /// it and SQLite's text reader stops at it. Text without one is kept as it is, other characters included.
    @Test func aNULInAVerdictsTextIsReplaced() {
        let nul = "x\u{0}é\u{0}\u{1F600}"
        let kept = "x\u{FFFD}é\u{FFFD}\u{1F600}"
        #expect(nul.storable == kept && kept.storable == kept && "".storable == "")
        let verdicts: [HostVerdict] = [
            .rebooted(Self.facts, measuredBy: "h2", code: nul, detail: nul), .untrusted(nil, measuredBy: "rc-tcb", code: nul, detail: nul),
            .unreachable(detail: nul), .stale(before: Self.now, detail: nul), .evacuating(cause: nul, detail: nul),
            .evacuated(cause: nul, detail: nul), .evacuationEnded(detail: nul), .enrolled(detail: nul), .readmitted(detail: nul),
        ]
        for v in verdicts {
            let described = String(describing: v.storable)
            #expect(!described.unicodeScalars.contains("\u{0}") && described.contains(kept), "\(v.state)")
        }
        let t = HostTransition.apply(.untrusted(Self.facts, measuredBy: "rc-tcb", code: "golden.unknown-measurement", detail: nul),
                                     to: Self.row(.trusted), now: Self.now)
        #expect(t.row.failureDetail == kept && t.event?.detail == kept)
        #expect(HostVerdict.untrusted(nil, measuredBy: "rc-tcb", code: nul, detail: nul).reason.detail == kept)
    }
}
