import Attestation
import Crypto
import Foundation
package import Logging
package import NIOSSL
import Policy
package import RegionTCB
import RegionProtocol
import TPMWire
import X509

/// BENCHMARK ONLY — a throwaway region for `smig-attest bench region`: a temporary RC-TCB directory made as
/// `rctcb init` makes one (region CA, server and admin identities, SQLite IVT in WAL), N software-key doubles
/// (``SoftwareAgentDouble``) written straight into that IVT, an agent TLS identity per double issued by the
/// region CA, and the real ``RegionState`` over the real ``IVTStore``. The directory is removed by ``destroy()``.
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
    let logger: Logger

    package init(hosts n: Int, logger: Logger) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-bench-region-\(UUID().uuidString)")
        directory = RegionDirectory(dir.path)
        self.logger = logger
        let ids = (1...n).map { String(format: "sim-%05d", $0) }
        try RegionSetup.initialise(directory, .init(regionName: Self.regionName, hosts: ids.map { ($0, "127.0.0.1", nil) },
                                                    policyDigest: "", ekCertificateAuthorities: [],
                                                    serverNames: ["localhost", "127.0.0.1"], force: false))
        let store = try IVTStore(path: directory.database)
        doubles = try ids.map { try SoftwareAgentDouble(hostId: $0, measurementName: Self.measurementName, measurement: Self.measurement) }
        let byHost = Dictionary(uniqueKeysWithValues: doubles.map { ($0.hostId, $0) })
        self.byHost = byHost
        try store.enrolBenchmarkDoubles(doubles.map(\.ivtKey))
        let golden = GoldenValues(name: "benchmark", entries: [.init(name: Self.measurementName, sha256: [Self.measurement], required: true)])
        region = RegionState(store: store, hosts: ids.map { .init(id: $0, address: "127.0.0.1", port: 1, golden: golden) }, order: ids,
                             selection: try PCRSelectionList(parsing: RCTCBRunner.selection), nonceLifetime: 30, logger: logger,
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
}
