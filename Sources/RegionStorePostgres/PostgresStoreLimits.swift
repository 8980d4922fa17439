import DurationUnits

/// How long a PostgreSQL store waits for the database, so that a lost server or a cut link is an error
/// (`store.unreachable`) within seconds rather than after postgres-nio's pool gives up on a connection (60 s) or TCP
/// on a silent peer (minutes).
package struct PostgresStoreLimits: Sendable, Equatable {
    /// One operation of the store (a read, or a write transaction), including its wait for a pooled connection.
    package var operation: Duration
    /// Opening one connection: TCP, TLS and the login.
    package var connect: Duration
    /// Asked of the server (`idle_in_transaction_session_timeout`): a session that leaves its open transaction idle
    /// this long is ended by the server, which rolls the transaction back and releases its locks. A client cut off
    /// in the middle of a write transaction thus holds no row lock (the lease row's, say) for longer than this.
    package var idleInTransaction: Duration

    package init(operation: Duration, connect: Duration, idleInTransaction: Duration) {
        (self.operation, self.connect, self.idleInTransaction) = (operation, connect, idleInTransaction)
    }

    /// An operator's command or a test reading the rows.
    package static let standard = PostgresStoreLimits(operation: .seconds(30), connect: .seconds(10), idleInTransaction: .seconds(30))

    /// An RC-TCB leading by a lease of `lease`: its operations are bounded well before a shared store could hold up
    /// the region for long, and a transaction it leaves open when cut off ends within two leases (at least 5 s, so
    /// a process stalled by load between two statements is not cut off), so a follower's takeover waits on its
    /// locks that long at most. (The leader's renewals have their own, shorter deadline: the
    /// lease's end by its own clock; see `RegionLeadership`.)
    package static func leading(lease: Duration) -> PostgresStoreLimits {
        PostgresStoreLimits(operation: max(lease * 3, .seconds(10)), connect: .seconds(5), idleInTransaction: max(lease * 2, .seconds(5)))
    }

    /// The startup parameters that ask the server for these limits, and for a plan made for each run of a prepared
    /// statement (`plan_cache_mode`).
    ///
    /// The store prepares its hot statements once per connection (``PostgresRowStatement``), which saves parsing and
    /// analysing them each time, but a plan PostgreSQL keeps for a statement is made for the tables as they were
    /// then: a region's nonce and evidence tables start empty and grow to tens of thousands of rows, and plans kept
    /// from the first minute went on scanning them whole (`bench region`: the server's CPU per attestation up by
    /// half). So every run is planned for the tables as they are, as an unprepared statement is.
    var startupParameters: [(String, String)] {
        [("idle_in_transaction_session_timeout", "\(max(1, Int64(idleInTransaction.inSeconds * 1000)))"),
         ("plan_cache_mode", "force_custom_plan")]
    }
}
