import Logging
import RegionStorePostgres
import RegionTCB

/// `--store`: which backend keeps the region's state. Nil: the RC-TCB directory's SQLite IVT (the default); a
/// `postgresql://` URL: the PostgreSQL store, opened for the policy's region (checked, connected and migrated
/// before the RC-TCB listens).
enum RegionStoreChoice {
    static func opener(_ url: String?, logger: Logger) -> (@Sendable (String) async throws -> any RegionStore)? {
        guard let url else { return nil }
        return { region in try await PostgresRegionStore.open(url: url, region: region, logger: logger) }
    }
}
