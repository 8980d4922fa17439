package import Foundation
package import Migration

/// A region's leadership: one lease per region in the shared store, held by one RC-TCB until it expires. Every new
/// holder gets the next epoch. Expiry is judged by the database's clock, never by the RC-TCBs', so their clocks
/// need not agree. A store that leads under a lease (``RegionLeases/fenced(by:)``) refuses every write once the
/// lease is no longer the region's current one (`store.fenced`).
package struct LeaderLease: Sendable, Hashable, CustomStringConvertible {
    package var region: String
    package var holder: String
    package var epoch: Int64

    package init(region: String, holder: String, epoch: Int64) {
        (self.region, self.holder, self.epoch) = (region, holder, epoch)
    }

    package var description: String { "region \(region), holder \(holder), epoch \(epoch)" }
}

/// A region store that several RC-TCBs of one region share, with the region's leader lease (the PostgreSQL store).
package protocol RegionLeases: RegionStore {
    /// Takes the region's lease for `duration` if no live lease exists, with the next epoch; nil while another
    /// holder's lease is live.
    func acquireLease(holder: String, for duration: Duration) async throws(RegionError) -> LeaderLease?
    /// Extends a live lease by `duration` from now; `store.fenced` when it expired or another holder took over.
    func renewLease(_ lease: LeaderLease, for duration: Duration) async throws(RegionError)
    /// Gives the lease up at once, so a follower need not wait for it to expire.
    func releaseLease(_ lease: LeaderLease) async throws(RegionError)
    /// The region's lease as the database has it now (holder, epoch, whether it is live); nil before any.
    func currentLease() async throws(RegionError) -> (lease: LeaderLease, live: Bool)?
    /// This store with every write fenced by `lease`.
    func fenced(by lease: LeaderLease) throws(RegionError) -> any RegionStore
    /// The region's VM inventory and migration journal in this store, and the prefix of the migration order ids the
    /// region's RC-TCBs send agents (the same for all of them, so a new leader asks for the old one's orders by id).
    /// With `lease`, every write is fenced by the lease it returns when the write begins (nil, a follower: refused);
    /// without, the writes are the operator's.
    func inventory(fencedBy lease: (@Sendable () -> LeaderLease?)?) async throws(RegionError) -> (inventory: any VMInventoryStore, orderPrefix: String)

    /// Keeps a ring nonce the leader issued for `reporter` → `target` until `expires`, so that whichever RC-TCB leads
    /// when the report comes spends it (expired ones are pruned). `carried`: a report's answer carries it (else the
    /// reporter asked for it); a reporter keeps at most ``NonceBook/openPerReporter`` of each kind, its oldest
    /// of the kind dropped first.
    func recordNonce(_ hex: String, reporter: String, target: String, expires: Date, now: Date, carried: Bool) async throws(RegionError)
    /// Spends a nonce a report carries, at most once whichever RC-TCB asks: `spent` only if it was open for this
    /// pair and not expired at `now`; a nonce open for another pair stays open.
    func spendNonce(_ hex: String, reporter: String, target: String, now: Date) async throws(RegionError) -> NonceSpend

    /// The region's changes as the store announces them (LISTEN/NOTIFY), for the RC-TCBs that follow.
    func changes() -> AsyncStream<RegionChange>
}

extension RegionLeases {
    /// A ring nonce the reporter asked for (``recordNonce(_:reporter:target:expires:now:carried:)``).
    package func recordNonce(_ hex: String, reporter: String, target: String, expires: Date, now: Date) async throws(RegionError) {
        try await recordNonce(hex, reporter: reporter, target: target, expires: expires, now: now, carried: false)
    }
}

/// A change of the region that the store announces to every RC-TCB of the region.
package enum RegionChange: String, Sendable {
    /// The leader gave its lease up (it shuts down): a follower may take it now.
    case leaseReleased = "lease-released"
    /// A host row or the audit trail changed.
    case rows
    /// The store listens (again): changes made while it did not may have been missed.
    case listening
}
