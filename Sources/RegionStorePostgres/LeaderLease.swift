package import Logging
import DurationUnits
import PostgresNIO
package import RegionTCB

/// The leader lease in PostgreSQL: one row per region in `leader_lease`. Expiry is judged by the database's clock
/// (`now()`).
///
/// Fencing: a store that leads (``PostgresRegionStore/leading(_:)``) checks its lease in every write transaction
/// before it writes, reading the lease row `FOR SHARE`: at the transaction's start, or — on an attestation's hot
/// path — in the transaction's first statement (a transition reads the host's row joined with the lease row,
/// ``PostgresRegionStore/lockedRow(_:host:fencedBy:)``; a nonce is recorded or spent by one statement that carries
/// the check, ``PostgresRegionStore/fencedStatement(_:)``). A write whose epoch is not the region's current one, or
/// whose lease has expired, is `store.fenced` and changes nothing. The share lock makes a takeover wait for writes
/// that passed the check to commit, so nothing a stale leader writes lands after the new leader's epoch begins.
extension LeaderLease {
    /// Refuses the transaction on `c` unless this lease is the region's current, unexpired one.
    func check(on c: PostgresConnection, logger: Logger) async throws {
        let rows = try await c.query("""
            SELECT holder, epoch, expires_at > now() FROM leader_lease WHERE region = \(region) FOR SHARE
            """, logger: logger)
        try verify(try await PostgresRegionStore.first(rows).map { try $0.decode((String, Int64, Bool).self) })
    }

    /// Refuses unless `found` — the region's lease row as read `FOR SHARE` (holder, epoch, unexpired), nil when the
    /// region has none — is this lease, unexpired.
    func verify(_ found: (holder: String, epoch: Int64, live: Bool)?) throws(RegionError) {
        guard let (holder, epoch, live) = found else {
            throw RegionError(.storeFenced, "lease \(self): the region has no leader lease", hint: "acquire the lease before writing")
        }
        guard holder == self.holder, epoch == self.epoch else {
            throw RegionError(.storeFenced, "lease \(self): \(holder) leads the region since epoch \(epoch)",
                              hint: "this RC-TCB is no longer the leader: step down and follow")
        }
        guard live else {
            throw RegionError(.storeFenced, "lease \(self): expired", hint: "renew the lease well within its duration, or step down")
        }
    }
}

extension PostgresRegionStore: RegionLeases {
    /// Takes the region's lease for `duration` if no live lease exists (none yet, or the last one expired), with
    /// the next epoch. Nil while another holder's lease is live (including this holder's own: use
    /// ``renewLease(_:for:)``).
    package func acquireLease(holder: String, for duration: Duration) async throws(RegionError) -> LeaderLease? {
        let ms = duration.wholeMilliseconds
        return try await run {
            let rows = try await self.client.query("""
                INSERT INTO leader_lease AS l (region, holder, epoch, expires_at)
                VALUES (\(self.region), \(holder), 1, now() + \(ms) * interval '1 millisecond')
                ON CONFLICT (region) DO UPDATE SET holder = excluded.holder, epoch = l.epoch + 1, expires_at = excluded.expires_at
                WHERE l.expires_at <= now()
                RETURNING epoch
                """, logger: self.logger)
            return try await Self.first(rows).map { LeaderLease(region: self.region, holder: holder, epoch: try $0.decode(Int64.self)) }
        }
    }

    /// Extends a live lease by `duration` from now; `store.fenced` when it expired or another holder took over.
    package func renewLease(_ lease: LeaderLease, for duration: Duration) async throws(RegionError) {
        let ms = duration.wholeMilliseconds
        let renewed = try await run {
            let rows = try await self.client.query("""
                UPDATE leader_lease SET expires_at = now() + \(ms) * interval '1 millisecond'
                WHERE region = \(lease.region) AND holder = \(lease.holder) AND epoch = \(lease.epoch) AND expires_at > now()
                RETURNING epoch
                """, logger: self.logger)
            return try await Self.first(rows) != nil
        }
        guard renewed else {
            throw RegionError(.storeFenced, "lease \(lease): expired or taken over before it was renewed",
                              hint: "this RC-TCB is no longer the leader: step down and follow")
        }
    }

    /// Gives the lease up at once (a leader that shuts down), so a follower need not wait for it to expire.
    package func releaseLease(_ lease: LeaderLease) async throws(RegionError) {
        try await run {
            try await self.client.withTransaction(logger: self.logger) { c in
                try await c.query("""
                    UPDATE leader_lease SET expires_at = now()
                    WHERE region = \(lease.region) AND holder = \(lease.holder) AND epoch = \(lease.epoch) AND expires_at > now()
                    """, logger: self.logger)
                try await self.announce(.leaseReleased, on: c)
            }
        }
    }

    /// This store's rows with every write fenced by `lease` (it shares this store's connection pool). A lease of
    /// another region is `store.fenced`.
    package func leading(_ lease: LeaderLease) throws(RegionError) -> PostgresRegionStore {
        guard lease.region == region else {
            throw RegionError(.storeFenced, "lease \(lease) is not region \(region)'s", hint: "acquire the lease through this region's store")
        }
        return PostgresRegionStore(sharing: self, fence: lease)
    }

    package func fenced(by lease: LeaderLease) throws(RegionError) -> any RegionStore { try leading(lease) }

    package func currentLease() async throws(RegionError) -> (lease: LeaderLease, live: Bool)? {
        try await run {
            let rows = try await self.client.query("""
                SELECT holder, epoch, expires_at > now() FROM leader_lease WHERE region = \(self.region)
                """, logger: self.logger)
            return try await Self.first(rows).map { r in
                let (holder, epoch, live) = try r.decode((String, Int64, Bool).self)
                return (LeaderLease(region: self.region, holder: holder, epoch: epoch), live)
            }
        }
    }
}
