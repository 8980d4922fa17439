import Foundation
import NIOCore
import NIOSSL
package import PostgresNIO
package import RegionTCB

/// A region store's database URL, `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]`
/// (libpq's form; `postgres://` too), checked before anything connects: a URL that cannot name a database is
/// `store.bad-url` with what to write instead.
package struct PostgresStoreURL: Sendable, CustomStringConvertible {
    package var host: String
    package var port: Int
    package var user: String
    package var password: String?
    package var database: String
    package var sslMode: SSLMode

    package enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
    }

    static let form = "postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]"

    package init(_ text: String) throws(RegionError) {
        func bad(_ why: String) -> RegionError {
            RegionError(.storeBadURL, "store URL '\(Self.redacted(text))': \(why)", hint: "write it as \(Self.form)")
        }
        guard let c = URLComponents(string: text), let scheme = c.scheme else { throw bad("not a URL") }
        guard ["postgresql", "postgres"].contains(scheme.lowercased()) else { throw bad("scheme '\(scheme)' is not postgresql") }
        guard let host = c.host, !host.isEmpty else { throw bad("no host") }
        guard let user = c.user, !user.isEmpty else { throw bad("no user") }
        if let p = c.port, !(1...65535).contains(p) { throw bad("port \(p) is not 1-65535") }
        let database = String(c.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else { throw bad("no database (the path names one database)") }
        var sslMode = SSLMode.prefer
        for item in c.queryItems ?? [] {
            guard item.name == "sslmode" else { throw bad("unknown parameter '\(item.name)' (only sslmode)") }
            guard let m = item.value.flatMap(SSLMode.init(rawValue:)) else {
                throw bad("sslmode '\(item.value ?? "")' is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            sslMode = m
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        self.port = c.port ?? 5432
        self.user = user
        self.password = c.password
        self.database = database
        self.sslMode = sslMode
    }

    /// The URL without its password, for messages and logs.
    package var description: String { "postgresql://\(user)@\(host):\(port)/\(database)?sslmode=\(sslMode.rawValue)" }

    static func redacted(_ text: String) -> String {
        guard var c = URLComponents(string: text), c.password != nil else { return text }
        c.password = "***"
        return c.string ?? "(unprintable)"
    }

    var tls: PostgresClient.Configuration.TLS {
        switch sslMode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    /// The pool's configuration: connections opened within `limits.connect`, the server asked for `limits`' idle
    /// transaction bound, and idle connections probed every few seconds (so a dead one is replaced before an
    /// operation waits on it).
    package func clientConfiguration(limits: PostgresStoreLimits) -> PostgresClient.Configuration {
        var c = PostgresClient.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        c.options.connectTimeout = limits.connect
        c.options.additionalStartupParameters = limits.startupParameters
        c.options.keepAliveBehavior = .init(frequency: .seconds(5))
        return c
    }

    /// One connection's configuration (the store's first connection, which checks the server and migrates).
    func connectionConfiguration(limits: PostgresStoreLimits) throws(RegionError) -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        do {
            tls = switch sslMode {
            case .disable: .disable
            case .prefer: .prefer(try NIOSSLContext(configuration: .makeClientConfiguration()))
            case .require: .require(try NIOSSLContext(configuration: .makeClientConfiguration()))
            }
        } catch {
            throw RegionError(.storeBadURL, "store \(self): no TLS context for sslmode=\(sslMode.rawValue): \(error)",
                              hint: "use sslmode=disable on loopback, or check the system's CA certificates")
        }
        var c = PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: tls)
        c.options.connectTimeout = .init(limits.connect)
        c.options.additionalStartupParameters = limits.startupParameters
        return c
    }
}
