import Attestation
import Crypto
import Foundation
package import Logging
package import NIOSSL
import Policy
package import RegionTCB
import RegionProtocol
import RegionStorePostgres
import TPMWire
import X509

/// BENCHMARK ONLY — a throwaway region for `smig-attest bench region`: a temporary RC-TCB directory made as
/// `rctcb init` makes one (region CA, server and admin identities, SQLite IVT in WAL), N software-key doubles
/// (``SoftwareAgentDouble``) written straight into the region's store, an agent TLS identity per double issued by
/// the region CA, and the real ``RegionState`` over that store. The store is the directory's SQLite IVT, or with a
/// `postgresql://` URL the benchmark-only region's rows in PostgreSQL (cleared first). ``destroy()`` removes the
/// directory; ``close()`` also clears the PostgreSQL rows and closes the connection pool.
package final class BenchmarkRegion: Sendable {
    /// The policy name of every benchmark region; ``IVTStore`` writes doubles only into an IVT of this name.
    package static let regionName = IVTStore.benchmarkRegionName
    static let measurementName = "file:/benchmark/hypervisor"
    static let measurement = Array(SHA256.hash(data: Data("benchmark hypervisor image".utf8)))

    package let directory: RegionDirectory
    package let region: RegionState
    package let doubles: [SoftwareAgentDouble]
    package let byHost: [String: SoftwareAgentDouble]
    /// Each double's client identity (agent certificate of the region CA) and the region CA certificate.
    package let identities: [String: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)]
    package let caCertificate: NIOSSLCertificate
    /// The PostgreSQL store's URL (what `rctcb serve --store` is given); nil: the directory's SQLite IVT.
    package let storeURL: String?
    let postgres: PostgresRegionStore?
    let logger: Logger

    /// A benchmark region on the directory's SQLite IVT. `nonceLifetime`: how long the RC-TCB's nonces stay valid
    /// (a test that counts the nonces issued keeps them for as long as it may run on a loaded machine).
    package convenience init(hosts n: Int, nonceLifetime: Double = 30, logger: Logger) throws {
        let (directory, ids) = try Self.makeDirectory(hosts: n)
        do {
            let store = try IVTStore(path: directory.database)
            let doubles = try Self.makeDoubles(ids)
            try store.enrolBenchmarkDoubles(doubles.map(\.ivtKey))
            try self.init(directory: directory, doubles: doubles, store: store, postgres: nil, storeURL: nil, nonceLifetime: nonceLifetime,
                          logger: logger)
        } catch {
            try? FileManager.default.removeItem(atPath: directory.path)
            throw error
        }
    }

    /// A benchmark region on the SQLite IVT (`storeURL` nil) or on PostgreSQL at `storeURL`: the benchmark-only
    /// region's rows there are cleared, its hosts seeded and its doubles enrolled.
    package static func open(hosts n: Int, storeURL: String?, logger: Logger) async throws -> BenchmarkRegion {
        guard let storeURL else { return try BenchmarkRegion(hosts: n, logger: logger) }
        let (directory, ids) = try makeDirectory(hosts: n)
        var opened: PostgresRegionStore?
        do {
            let store = try await PostgresRegionStore.open(url: storeURL, region: regionName, logger: logger)
            opened = store
            try await store.clearBenchmarkRegion()
            try await store.seed(hosts: ids.map { ($0, "127.0.0.1", nil) }, policyName: regionName, policyDigest: "", now: Date())
            let doubles = try makeDoubles(ids)
            try await store.enrolBenchmarkDoubles(doubles.map(\.ivtKey))
            return try BenchmarkRegion(directory: directory, doubles: doubles, store: store, postgres: store, storeURL: storeURL, logger: logger)
        } catch {
            await opened?.close()
            try? FileManager.default.removeItem(atPath: directory.path)
            throw error
        }
    }

    /// The RC-TCB directory of a benchmark region of `n` hosts (`sim-00001`, …), made as `rctcb init` makes one.
    static func makeDirectory(hosts n: Int) throws -> (RegionDirectory, [String]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-bench-region-\(UUID().uuidString)")
        let directory = RegionDirectory(dir.path)
        let ids = (1...n).map { String(format: "sim-%05d", $0) }
        try RegionSetup.initialise(directory, .init(regionName: Self.regionName, hosts: ids.map { ($0, "127.0.0.1", nil) },
                                                    policyDigest: "", ekCertificateAuthorities: [],
                                                    serverNames: ["localhost", "127.0.0.1"], force: false))
        return (directory, ids)
    }

    static func makeDoubles(_ ids: [String]) throws -> [SoftwareAgentDouble] {
        try ids.map { try SoftwareAgentDouble(hostId: $0, measurementName: Self.measurementName, measurement: Self.measurement) }
    }

    private init(directory: RegionDirectory, doubles: [SoftwareAgentDouble], store: any RegionStore, postgres: PostgresRegionStore?,
                 storeURL: String?, nonceLifetime: Double = 30, logger: Logger) throws {
        self.directory = directory
        self.logger = logger
        self.doubles = doubles
        self.postgres = postgres
        self.storeURL = storeURL
        let ids = doubles.map(\.hostId)
        let byHost = Dictionary(uniqueKeysWithValues: doubles.map { ($0.hostId, $0) })
        self.byHost = byHost
        let golden = GoldenValues(name: "benchmark", entries: [.init(name: Self.measurementName, sha256: [Self.measurement], required: true)])
        region = RegionState(store: store, hosts: ids.map { .init(id: $0, address: "127.0.0.1", port: 1, golden: golden) }, order: ids,
                             selection: try PCRSelectionList(parsing: RCTCBRunner.selection), nonceLifetime: nonceLifetime, logger: logger,
                             challenger: { cfg, challenge in
                                 // Direct challenges are answered in process by the host's double.
                                 guard let d = byHost[cfg.id], let nonce = Hex.decode(challenge.nonce) else { throw RegionError(.unknownHost, cfg.id) }
                                 return try d.evidence(nonce: nonce, selection: try PCRSelectionList(parsing: challenge.pcrSelection))
                             })
        let ca = try RegionSetup.loadCA(directory)
        caCertificate = try NIOSSLCertificate(bytes: Array(try ca.certificate.pem.utf8), format: .pem)
        var identities: [String: (chain: [NIOSSLCertificate], key: NIOSSLPrivateKey)] = [:]
        for d in doubles {
            let key = P256.Signing.PrivateKey()
            let cert = try ca.issue(for: .init(key.publicKey), identity: RegionIdentity(role: .agent, name: d.hostId, akName: Hex.encode(d.akName)))
            identities[d.hostId] = ([try NIOSSLCertificate(bytes: Array(try cert.pem.utf8), format: .pem)],
                                    try NIOSSLPrivateKey(bytes: Array(key.derRepresentation), format: .der))
        }
        self.identities = identities
    }

    /// Brings every double to `trusted` through the RC-TCB's own direct challenges (answered in process).
    package func warmUp() async throws {
        for d in doubles {
            let r = await region.challengeDirectly(try await hostConfig(d.hostId), reason: "benchmark warm-up", now: Date())
            guard r.state == HostState.trusted.rawValue else {
                throw RegionError(.storeFailed, "benchmark double \(d.hostId) did not become trusted: \(r.code ?? "-") \(r.detail ?? "")")
            }
        }
        await region.refresh()
    }

    func hostConfig(_ id: String) async throws -> RegionState.HostConfig {
        guard let cfg = await region.config(id) else { throw RegionError(.unknownHost, id) }
        return cfg
    }

    /// Writes the region policy of this benchmark region (and its one golden file) beside the IVT, for
    /// `smig-attest rctcb serve`: every double at a loopback address of its own, the ring in host order, and intervals of an hour so
    /// that during a run the RC-TCB's own schedule (direct challenges, staleness) stays out of the measurement.
    package func writePolicy() throws -> String {
        let golden = "kind: golden-values\nversion: 1\nname: benchmark\nmeasurements:\n  \(Self.measurementName):\n" +
            "    sha256: [\(Hex.encode(Self.measurement))]\n    required: true\n"
        try Data(golden.utf8).write(to: URL(fileURLWithPath: directory.path + "/benchmark.golden.yaml"))
        var yaml = "kind: region\nversion: 1\nname: \(Self.regionName)\nrc-tcb: {address: 127.0.0.1, port: 8443}\nhosts:\n"
        yaml.reserveCapacity(doubles.count * 80)
        // Hosts need distinct endpoints; the doubles are never dialled (the RC-TCB's schedule is an hour), so each
        // gets a loopback address of its own.
        for (i, d) in doubles.enumerated() {
            yaml += "  - {id: \(d.hostId), address: 127.\(1 + i / 65536).\((i / 256) % 256).\(i % 256), port: 1, golden: benchmark.golden.yaml}\n"
        }
        yaml += "ring: [\(doubles.map(\.hostId).joined(separator: ", "))]\n"
        yaml += "intervals: {measurement: 3600s, challenge: 3600s}\nquote-freshness: 86400s\nunreachable-timeout: 3600s\n"
        yaml += "on-state: {untrusted: evacuate, unreachable: confirm-then-evacuate, stale: challenge, rebooted: reattest, unknown: challenge}\n"
        yaml += "targets: {require-state: trusted, max-quote-age: 60s, rechallenge-before-move: true, reattest-after-move: true, prefer: least-loaded, exclude: []}\n"
        let path = directory.path + "/region.yaml"
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    package func destroy() {
        try? FileManager.default.removeItem(atPath: directory.path)
    }

    /// ``destroy()``, and on PostgreSQL the benchmark-only region's rows cleared and the pool closed: a server the
    /// user gave keeps nothing of the run.
    package func close() async {
        if let postgres {
            try? await postgres.clearBenchmarkRegion()
            await postgres.close()
        }
        destroy()
    }
}
