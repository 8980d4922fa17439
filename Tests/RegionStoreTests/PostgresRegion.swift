import Foundation
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Swtpm
import Testing

/// A region on loopback whose RC-TCBs keep their state in one real PostgreSQL cluster: a swtpm per host, real
/// `agent run` processes, and any number of real `rctcb serve --store postgresql://…` processes, each with its own
/// copy of the RC-TCB directory (the region CA and the RC-TCB certificate are the region's, shared by every RC-TCB
/// as an operator copies them to each machine). The test reads the region's rows through its own store.
final class PostgresRegion: @unchecked Sendable {
    // @unchecked Sendable: used from one test at a time.
    struct Host {
        var id: String
        var swtpm: SoftwareTPM
        var state: String
        var hypervisor: String
        var port: Int
        var config: String
        var agent: Daemon?
    }

    let cluster: PostgresCluster
    let dir: URL
    let binary: String
    let regionName: String
    var hosts: [Host] = []
    /// Each RC-TCB's process (nil while stopped) and its fixed port (agents keep its URL across restarts).
    var servers: [Daemon?]
    let ports: [Int]
    var regionFile = ""
    let store: PostgresRegionStore
    /// The ports handed out so far (``freePortPair(taken:)``).
    var takenPorts: Set<Int> = []

    /// A free port pair no other part of the region was given: a free port is not taken until something listens on
    /// it, so the OS may offer one twice before the region's processes have started.
    static func freePortPair(taken: inout Set<Int>) throws -> Int {
        while true {
            let p = try SoftwareTPM.freePortPair()
            if !taken.contains(p), !taken.contains(p + 1) {
                taken.formUnion([p, p + 1])
                return p
            }
        }
    }

    var urls: [String] { ports.map { "https://127.0.0.1:\($0)" } }
    func rctcbDir(_ i: Int) -> String { dir.appendingPathComponent("rctcb-\(i + 1)").path }

    /// Starts a cluster and a region of `hosts` hosts and `rctcbs` RC-TCB directories (no RC-TCB runs yet), runs
    /// `body`, and removes everything afterwards.
    static func with<T>(hosts: Int, rctcbs: Int, region: String = "pg-live", policyExtra: String = "",
                        _ body: (PostgresRegion) async throws -> T) async throws -> T {
        try await PostgresCluster.with { cluster in
            try await with(cluster: cluster, hosts: hosts, rctcbs: rctcbs, region: region, policyExtra: policyExtra, body)
        }
    }

    /// A region in a cluster the caller started (several regions sharing one database).
    static func with<T>(cluster: PostgresCluster, hosts: Int, rctcbs: Int, region: String, policyExtra: String = "",
                        _ body: (PostgresRegion) async throws -> T) async throws -> T {
        let store = try await PostgresRegionStore.open(url: cluster.url, region: region)
        do {
            let r = try PostgresRegion(cluster: cluster, store: store, hosts: hosts, rctcbs: rctcbs, region: region, policyExtra: policyExtra)
            let result = try await body(r)
            r.stopAll()
            await store.close()
            return result
        } catch {
            await store.close()
            throw error
        }
    }

    init(cluster: PostgresCluster, store: PostgresRegionStore, hosts n: Int, rctcbs: Int, region name: String, policyExtra: String) throws {
        guard SoftwareTPM.isAvailable else { throw PostgresRegionFailure(description: "swtpm is required; never skipped") }
        (self.cluster, self.store, regionName) = (cluster, store, name)
        binary = try TestBinaries.smigAttest()
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-pg-region-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        var taken: Set<Int> = []
        func port() throws -> Int { try Self.freePortPair(taken: &taken) }
        ports = try (0..<rctcbs).map { _ in try port() }
        servers = Array(repeating: nil, count: rctcbs)
        var region = "kind: region\nversion: 1\nname: \(name)\nrc-tcb: {address: 127.0.0.1, port: \(ports[0])}\nhosts:\n"
        var caFiles: [String] = []
        for i in 1...n {
            let swtpm = try SoftwareTPM(root: dir.appendingPathComponent("tpm-\(i)"))
            try swtpm.start()
            let state = dir.appendingPathComponent("state-\(i)").path
            try run(["tpm", "provision", "--tcti", swtpm.tcti, "--state-dir", state])
            let hv = dir.appendingPathComponent("hypervisor-\(i).bin").path
            try Data("good hypervisor \(i)".utf8).write(to: URL(fileURLWithPath: hv))
            try Data(try run(["golden", "capture", "--source", "file:\(hv)"]).utf8).write(to: dir.appendingPathComponent("golden-\(i).yaml"))
            let port = try port()
            region += "  - {id: host-\(i), address: 127.0.0.1, port: \(port), golden: golden-\(i).yaml}\n"
            let ca = swtpm.root.appendingPathComponent("localca")
            caFiles += [ca.appendingPathComponent("swtpm-localca-rootca-cert.pem").path, ca.appendingPathComponent("issuercert.pem").path]
            hosts.append(Host(id: "host-\(i)", swtpm: swtpm, state: state, hypervisor: hv, port: port,
                              config: dir.appendingPathComponent("agent-\(i).json").path))
        }
        region += "ring: [\(hosts.map(\.id).joined(separator: ", "))]\nintervals: {measurement: 1s, challenge: 1s}\nquote-freshness: 30s\nunreachable-timeout: 10s\n"
        region += "on-state: {untrusted: evacuate, unreachable: confirm-then-evacuate, stale: challenge, rebooted: reattest, unknown: challenge}\n"
        region += policyExtra
        regionFile = dir.appendingPathComponent("region.yaml").path
        try Data(region.utf8).write(to: URL(fileURLWithPath: regionFile))
        takenPorts = taken
        try run(["rctcb", "init", "--region", regionFile, "--dir", rctcbDir(0), "--server-name", "127.0.0.1", "--server-name", "localhost"]
                + caFiles.flatMap { ["--ek-ca", $0] })
        // The other RC-TCBs: the same region CA and certificate, before anything is in the store.
        for i in 1..<rctcbs {
            let copy = try ToolRun.run("/bin/cp", ["-a", rctcbDir(0), rctcbDir(i)])
            guard copy.status == 0 else { throw PostgresRegionFailure(description: "cp: \(copy.output)") }
        }
    }

    deinit {
        stopAll()
        for h in hosts { h.swtpm.destroy() }
        try? FileManager.default.removeItem(at: dir)
    }

    func stopAll() {
        for i in hosts.indices { hosts[i].agent?.stop(); hosts[i].agent = nil }
        for i in servers.indices { servers[i]?.stop(); servers[i] = nil }
    }

    @discardableResult
    func run(_ args: [String]) throws -> String {
        let r = try ToolRun.run(binary, args)
        guard r.status == 0 else { throw PostgresRegionFailure(description: "smig-attest \(args.joined(separator: " ")) failed (\(r.status)): \(r.output)") }
        return r.output
    }

    /// Starts RC-TCB `i` on its port with the region's store (`executable`: another build of the RC-TCB, e.g. the
    /// hooked test tool, with its leading arguments; `port`: another RC-TCB's port, taking its place).
    func startServer(_ i: Int, _ extra: [String] = [], executable: [String] = [], port: Int? = nil) throws {
        let portFile = dir.appendingPathComponent("rctcb-\(i + 1).port").path
        try? FileManager.default.removeItem(atPath: portFile)
        let serve = ["--region", regionFile, "--dir", rctcbDir(i), "--store", cluster.url, "--port", "\(port ?? ports[i])", "--port-file", portFile] + extra
        let (exe, args) = executable.isEmpty ? (binary, ["rctcb", "serve", "--log-level", "notice"] + serve) : (executable[0], Array(executable.dropFirst()) + serve)
        let daemon = try Daemon(exe, args, log: dir.appendingPathComponent("rctcb-\(i + 1)-\(UUID().uuidString.prefix(8)).log"))
        servers[i] = daemon
        _ = try daemon.waitForPort(file: portFile, seconds: 120)
    }

    /// Enrols every host through RC-TCB `via` (`agent enrol` of the real binary) and starts its agent with `rctcb`
    /// as its RC-TCB URL(s) in agent.json.
    func enrolAndStartAgents(via: Int, rctcb: Any? = nil) throws {
        for i in hosts.indices {
            let h = hosts[i]
            try run(["agent", "enrol", "--rctcb", urls[via], "--ca", "\(rctcbDir(via))/region-ca.pem", "--host-id", h.id, "--tcti", h.swtpm.tcti,
                     "--state-dir", h.state])
            let config: [String: Any] = [
                "hostId": h.id, "rctcb": rctcb ?? urls[via], "stateDirectory": h.state, "tcti": h.swtpm.tcti, "listenAddress": "127.0.0.1",
                "listenPort": h.port, "sources": ["file:\(h.hypervisor)"], "measurementInterval": 0.3, "challengeInterval": 1,
                "challengeTimeout": 2, "push": true,
            ]
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: h.config))
            hosts[i].agent = try Daemon(binary, ["agent", "run", "--config", h.config, "--log-level", "notice"],
                                        log: dir.appendingPathComponent("agent-\(i + 1).log"))
        }
    }

    func rows() async throws -> [IVTRow] { try await store.rows() }

    func wait(_ what: String, seconds: Double = 180, _ condition: ([IVTRow]) -> Bool) async throws {
        do { try await waitUntilAsync(what, seconds: seconds) { condition(try await rows()) } } catch {
            let table = ((try? await rows()) ?? []).map { "\($0.host) \($0.state) \($0.failureCode ?? "") \($0.failureDetail ?? "")" }.joined(separator: "\n")
            let logs = servers.enumerated().map { "RC-TCB \($0.offset + 1):\n\($0.element?.output.suffix(2500) ?? "(stopped)")" }.joined(separator: "\n")
            throw PostgresRegionFailure(description: "\(error)\nIVT:\n\(table)\n\(logs)")
        }
    }
}

struct PostgresRegionFailure: Error, CustomStringConvertible {
    let description: String
}
