import Foundation
import RegionTCB
import Testing

/// A reboot waiting for a boot log, accepted by the operator or by the host's policy: the rule (pure) and the
/// store (real SQLite).
@Suite("Reboot acceptance")
struct RebootAcceptanceTests {
    typealias T = HostTransitionTests

    static func pending(_ state: HostState = .rebooted, acceptance: String? = nil) -> IVTRow {
        var row = T.row(state, bootLogPending: true)
        row.rebootAcceptance = acceptance
        return row
    }

    @Test func theOperatorsAcceptanceIsRecordedAndSpentOnTheNextTrustedQuote() {
        let t = HostTransition.apply(.trusted(T.facts, measuredBy: "rc-tcb"), to: Self.pending(acceptance: "no measured boot"),
                                     bootLogSent: false, now: T.now)
        #expect(t.row.state == .trusted && !t.row.bootLogPending && t.row.rebootAcceptance == nil)
        #expect(t.event?.kind == "state" && t.event?.old == .rebooted && t.event?.new == .trusted)
        #expect(t.note?.kind == "reboot-accepted" && t.note?.code == "reboot.accepted-by-operator")
        #expect(t.note?.detail?.contains("no measured boot") == true)
    }

    @Test func thePolicysAcceptanceIsRecordedOnlyWithoutABootLog() {
        let without = HostTransition.apply(.trusted(T.facts, measuredBy: "h2"), to: Self.pending(), bootLogSent: false, now: T.now)
        #expect(without.note?.code == "reboot.accepted-without-boot-log")
        // A boot log that replayed is the ordinary way back: no acceptance to record.
        let replayed = HostTransition.apply(.trusted(T.facts, measuredBy: "h2"), to: Self.pending(), bootLogSent: true, now: T.now)
        #expect(replayed.note == nil && replayed.row.state == .trusted)
        // Nothing pending, nothing accepted.
        let ordinary = HostTransition.apply(.trusted(T.facts, measuredBy: "h2"), to: T.row(.trusted), bootLogSent: false, now: T.now)
        #expect(ordinary.note == nil)
    }

    /// Until a quote is trusted, the acceptance stays (a rebooted verdict, silence, an enrolment do not spend it).
    @Test(arguments: [HostTransitionTests.V.rebooted, .unreachable, .untrusted, .enrolled, .readmitted])
    func theAcceptanceWaitsForATrustedQuote(_ v: HostTransitionTests.V) {
        let t = HostTransition.apply(v.verdict, to: Self.pending(acceptance: "ops"), bootLogSent: false, now: T.now)
        #expect(t.row.rebootAcceptance == "ops" && t.note == nil)
    }

    @Test func theStoreRecordsAnAcceptanceOnlyForAPendingReboot() throws {
        let (s, _) = try IVTStoreTests.store()
        let before = try s.events()
        #expect(throws: RegionError(.rebootNotPending, "")) { try s.acceptReboot(host: "host-a", reason: "ops") }
        #expect(throws: RegionError(.hostUnknown, "")) { try s.acceptReboot(host: "nobody", reason: "ops") }
        _ = try s.transition(.rebooted(T.facts, measuredBy: "rc-tcb", code: "quote.rebooted", detail: "reset"), host: "host-a")
        for bad in ["", "   ", "line\nbreak", String(repeating: "x", count: RebootAcceptance.maxReason + 1)] {
            #expect(throws: RegionError(.rebootBadReason, "")) { try s.acceptReboot(host: "host-a", reason: bad) }
        }
        #expect(try s.row("host-a")?.rebootAcceptance == nil)
        #expect(try s.events().count == before.count + 1)

        let answer = try s.acceptReboot(host: "host-a", reason: " BIOS update ")
        #expect(answer.state == .rebooted && answer.reason == "BIOS update")
        #expect(try s.row("host-a")?.rebootAcceptance == "BIOS update")
        let event = try #require(try s.events(host: "host-a").last)
        #expect(event.kind == "accept-reboot" && event.detail == "BIOS update" && event.seq == answer.eventSeq)

        // The next trusted verdict spends it, with its own event after the state change.
        let facts = QuoteFacts(verifiedAt: Date(), tpmClock: 200, resetCount: 4, restartCount: 0, pcrDigest: "cd")
        let applied = try #require(try s.transition(.trusted(facts, measuredBy: "rc-tcb"), host: "host-a"))
        #expect(applied.row.state == .trusted && applied.row.rebootAcceptance == nil && !applied.row.bootLogPending)
        #expect(try s.events(host: "host-a").suffix(2).map(\.kind) == ["state", "reboot-accepted"])
    }
}
