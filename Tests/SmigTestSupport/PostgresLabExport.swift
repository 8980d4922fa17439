// The throw-away PostgreSQL cluster lives in the PostgresLab target (the benchmarks start one too); the tests see it
// through this support module as before.
@_exported public import PostgresLab
