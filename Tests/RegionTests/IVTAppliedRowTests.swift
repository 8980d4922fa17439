import Foundation
import RegionTCB
import Testing

/// A transition answers with the row as the table now holds it, built in memory rather than read again: for every
/// kind of verdict, on both paths (a transaction of its own, and the RC-TCB's group commit), it must equal the row a
/// fresh read returns.
@Suite("IVT applied row")
struct IVTAppliedRowTests {
    /// Times with fractions of a second that do not survive the table's REAL seconds since 1970 unchanged.
    static let start = Date(timeIntervalSinceReferenceDate: 786_000_000.123_456_789)

    static func facts(_ i: Int) -> QuoteFacts {
        QuoteFacts(verifiedAt: start.addingTimeInterval(Double(i) * 0.333_333_333), tpmClock: UInt64.max - UInt64(i), resetCount: UInt32.max - UInt32(i),
                   restartCount: UInt32(i), pcrDigest: "ab\(i)")
    }

    static let verdicts: [HostVerdict] = [
        .trusted(facts(1), measuredBy: "host-b"),
        .rebooted(facts(2), measuredBy: "rc-tcb", code: "quote.reset", detail: "reset count went up"),
        .trusted(facts(3), measuredBy: "host-b"),
        .untrusted(facts(4), measuredBy: "rc-tcb", code: "golden.mismatch", detail: "xen: not a golden value \u{2028}\u{0}! (a NUL: the text reader stops there)"),
        .evacuating(cause: "golden.mismatch", detail: "moving its VMs"),
        .evacuated(cause: nil, detail: nil),
        .evacuationEnded(detail: "nothing left to move"),
        .trusted(facts(6), measuredBy: "host-\u{0}b"),
        .unreachable(detail: "no answer"),
        .stale(before: start.addingTimeInterval(7.777), detail: "no quote for a while"),
        .untrusted(nil, measuredBy: "rc-tcb", code: "quote.signature", detail: "refused"),
        .trusted(facts(5), measuredBy: "host-b"),
    ]

    @Test func eachVerdictAnswersTheRowATableReadReturns() throws {
        let (store, _) = try IVTStoreTests.store()
        for (i, verdict) in Self.verdicts.enumerated() {
            let now = Self.start.addingTimeInterval(Double(i) * 1.1)
            let applied = try #require(try store.transition(verdict, host: "host-a", judgedUnder: "digest-\(i)", evidence: nil, now: now))
            #expect(applied.row == (try store.row("host-a")), "verdict \(i): \(verdict)")
        }
    }

    @Test func groupCommittedVerdictsAnswerTheRowATableReadReturns() async throws {
        let (store, _) = try IVTStoreTests.store()
        let regionStore: any RegionStore = store
        for (i, verdict) in Self.verdicts.enumerated() {
            let now = Self.start.addingTimeInterval(Double(i) * 1.1)
            let applied = try #require(try await regionStore.transition(verdict, host: "host-b", judgedUnder: nil, judged: nil, now: now))
            #expect(applied.row == (try store.row("host-b")), "verdict \(i): \(verdict)")
        }
    }
}
