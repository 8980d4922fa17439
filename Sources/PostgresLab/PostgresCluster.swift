import Foundation
import NamespaceLab
import Swtpm
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away PostgreSQL cluster for one test or one benchmark run (`bench region --store postgresql`, `bench failover`; never the product's store): `initdb` and `pg_ctl` of Debian's postgresql-15 (installed by
/// `scripts/install-deps`) in a temporary directory, run as an unprivileged user (PostgreSQL refuses root; as root
/// the cluster runs as `nobody`, which owns the directory), listening on 127.0.0.1 only, on a free port the OS
/// chose (bound to port 0, ``SoftwareTPM/freePortPair()``), with trust authentication for its one user `postgres` (loopback only). ``with(_:)`` stops it
/// (`pg_ctl stop -m immediate`) and removes the directory whatever the body did. A missing PostgreSQL fails the
/// test or the benchmark (never skips it). Not part of the region store: nothing the RC-TCB ships starts a database.
public final class PostgresCluster: Sendable {
    public static let binaries = "/usr/lib/postgresql/15/bin"
    public let directory: String
    public let port: Int
    let owner: String?
    /// Whether commits reach the disk (`fsync` on, as a production server runs); tests run with `fsync=off`.
    public let durable: Bool
    /// Where the server listens: 127.0.0.1 and any address given to ``start(alsoListening:clients:)``.
    public let listenAddresses: [String]

    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/postgres.log" }
    /// The URL of the cluster's `postgres` database (user `postgres`, no password, no TLS).
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    /// Starts a cluster for `body` and removes it afterwards.
    ///
    /// `alsoListening`: addresses besides 127.0.0.1 the server listens on (e.g. the root end of a veth pair, for
    /// clients in other network namespaces); `clients`: the network (CIDR) those clients connect from, let in with
    /// trust authentication as loopback is.
    public static func with<T>(alsoListening: [String] = [], clients: String? = nil, _ body: (PostgresCluster) async throws -> T) async throws -> T {
        let cluster = try await start(alsoListening: alsoListening, clients: clients)
        do {
            let result = try await body(cluster)
            await cluster.destroy()
            return result
        } catch {
            await cluster.destroy()
            throw error
        }
    }

    /// `durable`: commits are flushed to disk (a benchmark compares it with SQLite, which flushes every commit); by
    /// default a test's cluster runs with `fsync=off`. `alsoListening`, `clients`: as for ``with(alsoListening:clients:_:)``.
    public static func start(durable: Bool = false, alsoListening: [String] = [], clients: String? = nil) async throws -> PostgresCluster {
        guard FileManager.default.isExecutableFile(atPath: binaries + "/initdb") else {
            throw PostgresClusterFailure(description: "\(binaries)/initdb is missing: install Debian's postgresql (scripts/install-deps)")
        }
        let directory = "/tmp/smig-pg-\(UUID().uuidString)"
        guard mkdir(directory, 0o700) == 0 else { throw PostgresClusterFailure(description: "mkdir \(directory): \(String(cString: strerror(errno)))") }
        let owner: String? = getuid() == 0 ? "nobody" : nil
        if owner != nil {
            guard chown(directory, 65534, 65534) == 0 else {
                rmdir(directory)
                throw PostgresClusterFailure(description: "chown \(directory) to nobody: \(String(cString: strerror(errno)))")
            }
        }
        let cluster = PostgresCluster(directory: directory, port: try SoftwareTPM.freePortPair(), owner: owner, durable: durable,
                                      listenAddresses: ["127.0.0.1"] + alsoListening)
        do {
            try await cluster.run("initdb", ["-D", cluster.dataDirectory, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            if let clients {
                let hba = try FileHandle(forWritingTo: URL(fileURLWithPath: cluster.dataDirectory + "/pg_hba.conf"))
                try hba.seekToEnd()
                try hba.write(contentsOf: Data("host all postgres \(clients) trust\n".utf8))
                try hba.close()
            }
            try await cluster.startServer()
        } catch {
            await cluster.destroy()
            throw error
        }
        return cluster
    }

    init(directory: String, port: Int, owner: String?, durable: Bool, listenAddresses: [String]) {
        self.directory = directory
        self.port = port
        self.owner = owner
        self.durable = durable
        self.listenAddresses = listenAddresses
    }

    /// Starts the server (again) on the cluster's port, and waits until it accepts connections.
    public func startServer() async throws {
        try await run("pg_ctl", ["start", "-w", "-t", "120", "-D", dataDirectory, "-l", logFile,
                                 "-o", "-h \(listenAddresses.joined(separator: ",")) -p \(port) -k \(directory)" + (durable ? "" : " -c fsync=off")])
    }

    /// Stops the server at once (`-m immediate`: no shutdown checkpoint, as if it crashed); the data stays.
    public func stopServer() async throws {
        try await run("pg_ctl", ["stop", "-w", "-t", "120", "-D", dataDirectory, "-m", "immediate"])
    }

    /// Stops and starts the server on the same port (a "PostgreSQL restarted" under load).
    public func restartServer() async throws {
        try await stopServer()
        try await startServer()
    }

    /// Freezes the server (SIGSTOP to the postmaster and every backend): its connections stay open and the kernel
    /// still accepts new ones, but nothing answers, as with a server that hangs or a link that drops packets.
    public func pause() throws { try signalServer(SIGSTOP) }

    /// Lets a paused server run again (SIGCONT).
    public func resume() throws { try signalServer(SIGCONT) }

    /// `signal` to the postmaster (the first line of postmaster.pid) and its children (from /proc).
    func signalServer(_ signal: Int32) throws {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let postmaster = Int32(first) else {
            throw PostgresClusterFailure(description: "no postmaster.pid in \(dataDirectory): the server is not running")
        }
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            // After "(comm)": state, then the parent's pid.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { pids.append(pid) }
        }
        for pid in pids { kill(pid, signal) }
    }

    /// Stops the server if it runs and removes the directory.
    public func destroy() async {
        try? resume()
        if FileManager.default.fileExists(atPath: dataDirectory + "/postmaster.pid") { try? await stopServer() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The server's process (the postmaster, first line of `postmaster.pid`); nil when it does not run.
    public var serverPID: Int32? {
        guard let text = try? String(contentsOfFile: dataDirectory + "/postmaster.pid", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first.flatMap { Int32($0) }
    }

    /// The server's log, for failure messages.
    public var log: String { (try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "" }

    func run(_ tool: String, _ args: [String]) async throws {
        let path = Self.binaries + "/" + tool
        let result: LabSpawn.Result
        do {
            result = if let owner {
                try await LabSpawn.run("/usr/sbin/runuser", ["-u", owner, "--", path] + args, seconds: 300)
            } else {
                try await LabSpawn.run(path, args, seconds: 300)
            }
        } catch let failure as LabSpawn.Failure {
            throw PostgresClusterFailure(description: "\(tool): \(failure.description)")
        }
        guard result.status == 0 else {
            throw PostgresClusterFailure(description: "\(tool) \(args.joined(separator: " ")) exited \(result.status): \(result.output)\n\(log)")
        }
    }
}

public struct PostgresClusterFailure: Error, CustomStringConvertible {
    public let description: String
}
