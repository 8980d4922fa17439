package import Foundation

/// The ring's nonces: in this process's memory (``NonceBook``) when it is the region's only RC-TCB (SQLite), or in
/// the shared store when several RC-TCBs lead one after another (PostgreSQL), so a report on a nonce the old
/// leader issued is judged by the new one, and a nonce is spent at most once whichever RC-TCB is asked.
extension RegionState {
    /// A fresh nonce for `reporter` → `target`, open for ``nonceLifetime``. A reporter holds at most
    /// ``NonceBook/openPerReporter`` of each `origin`, in this process's book or in the shared store.
    func issueNonce(reporter: String, target: String, now: Date, origin: NonceBook.Origin) async throws(RegionError) -> String {
        guard let shared = sharedStore else { return nonces.issue(reporter: reporter, target: target, now: now, origin: origin) }
        let hex = NonceBook.fresh()
        try await shared.nonceWriter().recordNonce(hex, reporter: reporter, target: target, expires: now.addingTimeInterval(nonces.lifetime), now: now,
                                                   carried: origin == .answer)
        return hex
    }

    /// Spends the nonce a report of `reporter` on `target` carries; its bytes, or why it is refused.
    package func spendNonce(_ hex: String, reporter: String, target: String, now: Date) async throws(RegionError) -> [UInt8] {
        guard let shared = sharedStore else { return try nonces.spend(hex, reporter: reporter, target: target, now: now) }
        let found = try await shared.nonceWriter().spendNonce(hex, reporter: reporter, target: target, now: now)
        return try NonceBook.bytes(of: hex, found, reporter: reporter, target: target)
    }

    /// How many nonces `reporter` holds open in this process's book (0 on a shared store, which keeps them itself).
    package func openNonces(of reporter: String) -> Int { nonces.openCount(of: reporter) }
}
