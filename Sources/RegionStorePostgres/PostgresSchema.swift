import Logging
import PostgresNIO
import RegionTCB

/// The region store's tables in PostgreSQL, as numbered migrations recorded in `schema_migrations`. Every RC-TCB
/// that opens the store migrates it under one advisory lock, so several starting at once apply each step once.
/// Times are seconds since 1970 (`double precision`), as the SQLite IVT keeps them, so a row reads back the same
/// on both backends. Every table keys on `region`: regions that share a database never see each other's rows.
enum PostgresSchema {
    static let migrations: [(version: Int, name: String, statements: [String])] = [
        (1, "host rows and the audit trail", [
            """
            CREATE TABLE host (
                region text NOT NULL, id text NOT NULL,
                address text NOT NULL DEFAULT '', state text NOT NULL DEFAULT 'unknown',
                ak_public bytea, ak_name text, ek_certificate text, enrolled_at double precision,
                revoked boolean NOT NULL DEFAULT false,
                last_quote_at double precision, tpm_clock bigint, reset_count bigint, restart_count bigint,
                last_pcr_digest text, measured_by text, failure_code text, failure_detail text,
                policy_name text, policy_digest text, vms text NOT NULL DEFAULT '', capacity bigint,
                version bigint NOT NULL DEFAULT 0, updated_at double precision NOT NULL,
                boot_log_pending boolean NOT NULL DEFAULT false, verdict_state text, reboot_accepted text,
                PRIMARY KEY (region, id)
            )
            """,
            """
            CREATE TABLE event (
                seq bigserial PRIMARY KEY, region text NOT NULL,
                at double precision NOT NULL, host text, kind text NOT NULL,
                old_state text, new_state text, code text, detail text,
                count bigint NOT NULL DEFAULT 1, last_at double precision
            )
            """,
            "CREATE INDEX event_region_seq ON event (region, seq)",
            "CREATE INDEX event_region_host_seq ON event (region, host, seq)",
        ]),
        (2, "the leader lease", [
            """
            CREATE TABLE leader_lease (
                region text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL)
            """,
        ]),
        (3, "enrolments, evidence kept, certificates issued, evacuation records", [
            "ALTER TABLE host ADD COLUMN ek_name text, ADD COLUMN ek_cert_sha256 text, ADD COLUMN readmitted_ek text",
            "CREATE INDEX host_region_ek_name ON host (region, ek_name)",
            """
            CREATE TABLE evidence (
                seq bigserial PRIMARY KEY, region text NOT NULL, host text NOT NULL, at double precision NOT NULL,
                verdict text NOT NULL, state_changed boolean NOT NULL, event_seq bigint,
                code text, detail text, measured_by text, policy_digest text, bundle bytea NOT NULL
            )
            """,
            "CREATE INDEX evidence_region_host ON evidence (region, host, seq)",
            """
            CREATE TABLE certificate (
                region text NOT NULL, serial text NOT NULL, host text NOT NULL, ak_name text,
                issued_at double precision NOT NULL, not_after double precision NOT NULL, issued_by text NOT NULL,
                recorded bigserial, PRIMARY KEY (region, serial)
            )
            """,
            """
            CREATE TABLE evacuation (
                id bigserial PRIMARY KEY, region text NOT NULL, host text NOT NULL, cause_state text NOT NULL,
                cause_code text, cause_detail text, started_at double precision NOT NULL,
                ended_at double precision, outcome text, detail text
            )
            """,
            "CREATE UNIQUE INDEX one_open_evacuation_per_host ON evacuation (region, host) WHERE ended_at IS NULL",
        ]),
        (4, "evacuation fields of audit events", [
            "ALTER TABLE event ADD COLUMN vm text, ADD COLUMN source text, ADD COLUMN target text, ADD COLUMN outcome text",
        ]),
        (5, "the VM inventory and the migration journal", [
            "CREATE TABLE vm_inventory (region text PRIMARY KEY, order_prefix text NOT NULL)",
            """
            CREATE TABLE vm_host (
                region text NOT NULL, name text NOT NULL, kind text NOT NULL, address text NOT NULL,
                port_low integer NOT NULL, port_high integer NOT NULL, state_dir text NOT NULL,
                PRIMARY KEY (region, name)
            )
            """,
            """
            CREATE TABLE vm (
                region text NOT NULL, name text NOT NULL, description text NOT NULL, host text NOT NULL,
                state text NOT NULL, updated_at double precision NOT NULL,
                PRIMARY KEY (region, name), FOREIGN KEY (region, host) REFERENCES vm_host (region, name)
            )
            """,
            """
            CREATE TABLE vm_migration (
                id bigserial PRIMARY KEY, region text NOT NULL, vm text NOT NULL,
                source text NOT NULL, target text NOT NULL, port integer NOT NULL,
                step text NOT NULL, outcome text, error text,
                started_at double precision NOT NULL, updated_at double precision NOT NULL,
                FOREIGN KEY (region, vm) REFERENCES vm (region, name)
            )
            """,
            "CREATE UNIQUE INDEX one_open_migration_per_vm ON vm_migration (region, vm) WHERE outcome IS NULL",
            """
            CREATE TABLE vm_event (
                id bigserial PRIMARY KEY, region text NOT NULL, at double precision NOT NULL, vm text,
                migration bigint, what text NOT NULL, detail text NOT NULL
            )
            """,
            "CREATE INDEX vm_event_region_id ON vm_event (region, id)",
        ]),
        (6, "ring nonces", [
            """
            CREATE TABLE ring_nonce (
                region text NOT NULL, nonce text NOT NULL, reporter text NOT NULL, target text NOT NULL,
                expires_at double precision NOT NULL, PRIMARY KEY (region, nonce)
            )
            """,
            "CREATE INDEX ring_nonce_expiry ON ring_nonce (region, expires_at)",
        ]),
        (7, "ring nonces by how they reached their reporter", [
            "ALTER TABLE ring_nonce ADD COLUMN carried boolean NOT NULL DEFAULT false",
            "CREATE INDEX ring_nonce_holder ON ring_nonce (region, reporter, carried, expires_at)",
        ]),
    ]

    /// The advisory lock key migrations (and nothing else) take: "smig-sto" in ASCII.
    static let migrationLock: Int64 = 0x736D_6967_2D73_746F

    /// Applies the migrations `connection` has not seen, in one transaction that also records them.
    ///
    /// Five round trips however many steps are pending: the lock and the bookkeeping table, the versions applied,
    /// then every pending step's statements and its `schema_migrations` row in one `DO` block, which runs them in
    /// order, in this transaction. A statement per round trip was forty of them on an empty database: an RC-TCB far
    /// from its database, or a process whose threads are all busy for a while, waited for each in turn.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.withTransaction(logger: logger) { c in
            try await c.query(PostgresQuery(unsafeSQL: block([
                "PERFORM pg_advisory_xact_lock(\(migrationLock))",
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                """,
            ])), logger: logger)
            var applied = Set<Int>()
            for try await v in try await c.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) { applied.insert(v) }
            let pending = migrations.filter { !applied.contains($0.version) }
            guard !pending.isEmpty else { return }
            try await c.query(PostgresQuery(unsafeSQL: block(pending.flatMap { m in
                m.statements + ["INSERT INTO schema_migrations (version, name) VALUES (\(m.version), \(literal(m.name)))"]
            })), logger: logger)
            for m in pending { logger.info("store migrated", metadata: ["store.migration": "\(m.version): \(m.name)"]) }
        }
    }

    /// The quote that encloses a `DO` block's body; no statement of ours contains it (``block(_:)`` checks).
    static let blockQuote = "$smig_migration$"

    /// `statements` as one `DO` block: PL/pgSQL runs each in turn, in the caller's transaction.
    static func block(_ statements: [String]) -> String {
        precondition(statements.allSatisfy { !$0.contains(blockQuote) }, "a migration statement contains \(blockQuote)")
        return "DO \(blockQuote) BEGIN\n" + statements.map { $0 + ";\n" }.joined() + "END \(blockQuote)"
    }

    /// `text` as an SQL string literal.
    static func literal(_ text: String) -> String { "'" + text.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''") + "'" }
}
