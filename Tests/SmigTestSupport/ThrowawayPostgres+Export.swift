// The tests' PostgreSQL cluster lives in its own target (the benchmarks start one too); tests import it with the support.
@_exported public import ThrowawayPostgres
