import Foundation
@testable import RegionTCB
import Testing

/// The RC-TCB's own book of ring nonces (SQLite regions): each reporter holds a bounded number of each origin, and
/// what is spent, dropped or expired leaves nothing behind.
@Suite("Nonce book")
struct NonceBookTests {
    let now = Date(timeIntervalSince1970: 1_000_000)

    /// Past the bound, each new nonce asked for drops the reporter's oldest asked-for one, and only that: its
    /// nonces carried by answers and other reporters' nonces stay open.
    @Test func theOldestOfAnOriginIsDroppedPastTheBound() throws {
        var book = NonceBook(lifetime: 60)
        let carried = book.issue(reporter: "h1", target: "h2", now: now, origin: .answer)
        let other = book.issue(reporter: "h3", target: "h1", now: now)
        let asked = (0..<(NonceBook.openPerReporter + 3)).map { _ in book.issue(reporter: "h1", target: "h2", now: now) }
        #expect(book.openCount(of: "h1") == NonceBook.openPerReporter + 1)
        #expect(book.open.count == NonceBook.openPerReporter + 2)
        for hex in asked.prefix(3) {
            #expect(throws: RegionError.self) { try book.spend(hex, reporter: "h1", target: "h2", now: now) }
        }
        #expect(try book.spend(asked[3], reporter: "h1", target: "h2", now: now).count == 32)
        #expect(try book.spend(carried, reporter: "h1", target: "h2", now: now).count == 32)
        #expect(try book.spend(other, reporter: "h3", target: "h1", now: now).count == 32)
        #expect(book.openCount(of: "h1") == NonceBook.openPerReporter - 1)
    }

    /// A spent nonce leaves its reporter's list: a reporter that spends what it is given is never near the bound,
    /// and a spend does not count against the nonces it still holds.
    @Test func spendingLeavesNothingBehind() throws {
        var book = NonceBook(lifetime: 60)
        let kept = book.issue(reporter: "h1", target: "h2", now: now)
        for _ in 0..<(NonceBook.openPerReporter * 4) {
            let hex = book.issue(reporter: "h1", target: "h2", now: now, origin: .answer)
            _ = try book.spend(hex, reporter: "h1", target: "h2", now: now)
        }
        #expect(book.openCount(of: "h1") == 1 && book.open.count == 1)
        #expect(book.held.count == 1)
        #expect(try book.spend(kept, reporter: "h1", target: "h2", now: now).count == 32)
        #expect(book.held.isEmpty && book.open.isEmpty)
    }

    /// A nonce refused for the wrong pair stays open, in its list, for its own pair.
    @Test func aRefusedSpendKeepsTheNonce() throws {
        var book = NonceBook(lifetime: 60)
        let hex = book.issue(reporter: "h1", target: "h2", now: now)
        #expect(throws: RegionError.self) { try book.spend(hex, reporter: "h3", target: "h2", now: now) }
        #expect(book.openCount(of: "h1") == 1)
        #expect(try book.spend(hex, reporter: "h1", target: "h2", now: now).count == 32)
    }

    /// Expired nonces leave both the book and the reporters' lists at the next prune.
    @Test func expiredNoncesLeaveTheLists() {
        var book = NonceBook(lifetime: 60)
        for _ in 0..<5 { _ = book.issue(reporter: "h1", target: "h2", now: now) }
        _ = book.issue(reporter: "h2", target: "h3", now: now.addingTimeInterval(61))
        #expect(book.openCount(of: "h1") == 0)
        #expect(book.open.count == 1 && book.held.count == 1)
    }

    /// Every nonce is 32 bytes that no other nonce had: a thousand drawn, a thousand distinct, none all zero, and
    /// each byte position takes many values (a generator stuck on a byte, or one repeating, fails this).
    @Test func noncesAreThirtyTwoFreshBytes() {
        let drawn = (0..<1000).map { _ in NonceBook.direct() }
        #expect(drawn.allSatisfy { $0.count == 32 })
        #expect(Set(drawn).count == 1000)
        #expect(!drawn.contains([UInt8](repeating: 0, count: 32)))
        for position in 0..<32 { #expect(Set(drawn.map { $0[position] }).count > 200) }
        #expect(NonceBook.fresh().count == 64)
    }
}
