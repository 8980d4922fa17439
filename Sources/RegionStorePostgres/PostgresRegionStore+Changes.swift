import Foundation
import PostgresNIO
package import RegionTCB

/// The region's changes announced through PostgreSQL's NOTIFY, so the RC-TCBs that follow keep warm: a leader that
/// gives its lease up says so (a follower takes over at once instead of at its next round), and every write of a
/// host row or an audit event says the rows changed (followers re-read their IVT snapshot). One channel for every
/// region, `smig_region`, its payload the change and the region (`lease-released east`); a notification is sent
/// when its transaction commits, and only then.
extension PostgresRegionStore {
    static let changeChannel = "smig_region"

    /// Announces `change` of this region when the transaction on `c` commits.
    func announce(_ change: RegionChange, on c: PostgresConnection) async throws {
        try await c.query("SELECT \(announcing: change, of: region)", logger: logger)
    }

    /// This region's changes as announced, from a connection of its own that LISTENs (connected again a second after
    /// it was lost; each time it listens anew the stream says `listening`, as changes may have been missed). Ends
    /// when the consumer stops iterating.
    package func changes() -> AsyncStream<RegionChange> {
        let (stream, continuation) = AsyncStream.makeStream(of: RegionChange.self, bufferingPolicy: .bufferingNewest(64))
        let (url, region, limits, logger) = (self.url, self.region, self.limits, self.logger)
        let task = Task {
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(configuration: try url.connectionConfiguration(limits: limits), id: 1, logger: logger)
                    do {
                        try await connection.listen(on: Self.changeChannel) { notifications in
                            continuation.yield(.listening)
                            for try await n in notifications {
                                if let change = Self.change(n.payload, of: region) { continuation.yield(change) }
                            }
                        }
                    } catch {
                        logger.debug("region changes: listening ended", metadata: ["attest.reason": "\(Self.describe(error))"])
                    }
                    try? await connection.close()
                } catch {
                    logger.debug("region changes: cannot connect", metadata: ["attest.reason": "\(Self.describe(error))"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// The payload that announces `change` of `region` (``change(_:of:)`` reads it back).
    static func payload(_ change: RegionChange, of region: String) -> String { change.rawValue + " " + region }

    /// The change a notification's payload announces for `region`; nil for another region's or an unknown word.
    static func change(_ payload: String, of region: String) -> RegionChange? {
        guard let space = payload.firstIndex(of: " "), payload[payload.index(after: space)...] == region else { return nil }
        return RegionChange(rawValue: String(payload[..<space]))
    }
}

extension PostgresQuery.StringInterpolation {
    /// A `pg_notify` call that announces `change` of `region`, for the select list of a statement that is sent anyway
    /// (a write's own); like any notification it is delivered when the transaction commits, and only then.
    mutating func appendInterpolation(announcing change: RegionChange, of region: String) {
        appendLiteral("pg_notify(")
        appendInterpolation(PostgresRegionStore.changeChannel)
        appendLiteral(", ")
        appendInterpolation(PostgresRegionStore.payload(change, of: region))
        appendLiteral(")")
    }
}
