package import ArgumentParser
import Logging
import Policy
import RegionStorePostgres
import RegionTCB

/// `--store`: which backend keeps the region's state. Nil: the RC-TCB directory's SQLite IVT (the default); a
/// `postgresql://` URL: the PostgreSQL store, opened for the policy's region (checked, connected and migrated
/// before anything is read or written).
enum RegionStoreChoice {
    /// `lease`: the leader lease the RC-TCBs hold; the store's waits for the database are bounded by it
    /// (``PostgresStoreLimits/leading(lease:)``).
    static func opener(_ url: String?, lease: Duration, logger: Logger) -> (@Sendable (String) async throws -> any RegionStore)? {
        guard let url else { return nil }
        return { region in try await PostgresRegionStore.open(url: url, region: region, limits: .leading(lease: lease), logger: logger) }
    }
}

/// Where the operator's commands that read or write the region's state directly (`rctcb revoke`, `readmit`,
/// `certs`) find it: the directory's SQLite IVT, or with `--store`, the region's rows in PostgreSQL.
package struct StoreOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The region store the RC-TCBs run on (postgresql://…, as rctcb serve --store); default: DIR's SQLite IVT.",
                               valueName: "url"))
    var store: String?
    @Option(name: .customLong("region"), help: ArgumentHelp("With --store: the region policy, whose name is the region's in the store.", valueName: "file"))
    var regionFile: String?

    package init() {}

    package func validate() throws {
        if store != nil, regionFile == nil { throw ValidationError("--store needs --region FILE (the region policy names the region in the store)") }
    }

    /// The store: the directory's IVT, or the region's rows in PostgreSQL. Writes through it are the operator's, not
    /// a leader's: they are not fenced, and the leader reads them as it reads every change (the audit trail).
    func open(_ directory: RegionDirectory) async throws -> any RegionStore {
        guard let store, let regionFile else {
            try directory.requireInitialised()
            // An operator's write (a revocation, a readmission) is on the disk before the command says it is done.
            return try IVTStore(path: directory.database, flushEveryCommit: true)
        }
        let name = try LoadedRegionPolicy.load(regionFile).policy.name
        return try await PostgresRegionStore.open(url: store, region: name, logger: Logger(label: "smig-attest.store"))
    }
}
