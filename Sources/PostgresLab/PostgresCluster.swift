import Foundation
import NamespaceLab
import Swtpm
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away PostgreSQL cluster for one test or one benchmark run (`bench region --store postgresql`): `initdb` and `pg_ctl` of Debian's postgresql-15 (installed by
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

    public var dataDirectory: String { directory + "/data" }
    public var logFile: String { directory + "/postgres.log" }
    /// The URL of the cluster's `postgres` database (user `postgres`, no password, no TLS).
    public var url: String { "postgresql://postgres@127.0.0.1:\(port)/postgres?sslmode=disable" }

    /// Starts a cluster for `body` and removes it afterwards.
    public static func with<T>(_ body: (PostgresCluster) async throws -> T) async throws -> T {
        let cluster = try await start()
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
    /// default a test's cluster runs with `fsync=off`.
    public static func start(durable: Bool = false) async throws -> PostgresCluster {
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
        let cluster = PostgresCluster(directory: directory, port: try SoftwareTPM.freePortPair(), owner: owner, durable: durable)
        do {
            try await cluster.run("initdb", ["-D", cluster.dataDirectory, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"])
            try await cluster.startServer()
        } catch {
            await cluster.destroy()
            throw error
        }
        return cluster
    }

    init(directory: String, port: Int, owner: String?, durable: Bool) {
        self.directory = directory
        self.port = port
        self.owner = owner
        self.durable = durable
    }

    /// Starts the server (again) on the cluster's port, and waits until it accepts connections.
    public func startServer() async throws {
        try await run("pg_ctl", ["start", "-w", "-t", "120", "-D", dataDirectory, "-l", logFile,
                                 "-o", "-h 127.0.0.1 -p \(port) -k \(directory)" + (durable ? "" : " -c fsync=off")])
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

    /// Stops the server if it runs and removes the directory.
    public func destroy() async {
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
