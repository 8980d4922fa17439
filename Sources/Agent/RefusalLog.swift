import Logging
import Synchronization

/// Logs refusals of one peer at most once a minute, with how many were not logged since: a revoked host that keeps
/// asking is worth a line, not a line per request.
final class RefusalLog: Sendable {
    struct Entry {
        var logged: ContinuousClock.Instant
        var suppressed: Int
    }

    let entries = Mutex<[String: Entry]>([:])
    static let spacing: Duration = .seconds(60)
    static let capacity = 4096

    /// Logs `reason` for `peer` now, or counts it for the next line.
    func refused(_ peer: String, _ reason: String, logger: Logger, what: String = "quote request refused", now: ContinuousClock.Instant = .now) {
        let suppressed: Int? = entries.withLock { entries in
            let key = "\(peer) \(reason)"
            if var e = entries[key], now - e.logged < Self.spacing {
                e.suppressed += 1
                entries[key] = e
                return nil
            }
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            let before = entries[key]?.suppressed ?? 0
            entries[key] = Entry(logged: now, suppressed: 0)
            return before
        }
        guard let suppressed else { return }
        logger.notice("\(what)", metadata: ["attest.peer": "\(peer)", "attest.reason": "\(reason)",
                                                          "attest.refused-since-last-line": "\(suppressed)"])
    }
}
