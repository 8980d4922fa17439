import Foundation
package import RegionProtocol
import Synchronization

/// Whose region certificates this agent serves quotes to, as the RC-TCB last said (`GET /v1/peers`): a host's agent
/// certificate is served while the host is enrolled with the AK Name the certificate names and is not revoked. The
/// agent refreshes the list at an interval, and at once (at most every ``refreshSpacing``) when a certificate names
/// a host the list does not know (a host that enrolled since).
package final class PeerStanding: Sendable {
    package enum Verdict: Sendable, Equatable {
        case admitted
        /// The host is revoked.
        case revoked
        /// The host is not enrolled, or with another AK than the certificate names.
        case notEnrolled
        /// No list yet (the RC-TCB has not answered since the agent started).
        case unknown
    }

    struct Known {
        var version: Int64
        var enrolled: [String: String]
        var revoked: Set<String>
    }

    let known = Mutex<Known?>(nil)

    /// The early refresh in flight (every request that needs one waits for it) and when the last one started.
    struct Early {
        var task: Task<Void, Never>?
        var started: ContinuousClock.Instant?
    }

    let early = Mutex(Early())
    /// Unknown hosts trigger a refresh at most this often.
    package static let refreshSpacing: Duration = .seconds(2)

    package init() {}

    /// The version to send as `since`, nil before the first list.
    package var version: Int64? { known.withLock { $0?.version } }

    package func verdict(host: String, akName: String?) -> Verdict {
        known.withLock { known in
            guard let known else { return .unknown }
            if known.revoked.contains(host) { return .revoked }
            guard let enrolled = known.enrolled[host], enrolled == akName else { return .notEnrolled }
            return .admitted
        }
    }

    /// Takes the RC-TCB's answer (just a version: unchanged).
    package func update(_ answer: RegionPeers) {
        guard let enrolled = answer.enrolled, let revoked = answer.revoked else { return }
        known.withLock { $0 = Known(version: answer.version, enrolled: enrolled, revoked: Set(revoked)) }
    }

    /// Refreshes now with `refresh`, for a certificate of a host the list does not know: joins the refresh in flight,
    /// else starts one unless one started within ``refreshSpacing`` (then the list is recent enough). Returns once
    /// the refresh it joined or started is done.
    package func refreshEarly(now: ContinuousClock.Instant, _ refresh: @escaping @Sendable () async -> Void) async {
        let task: Task<Void, Never>? = early.withLock { early in
            if let running = early.task { return running }
            if let started = early.started, now - started < Self.refreshSpacing { return nil }
            early.started = now
            let task = Task {
                await refresh()
                self.early.withLock { $0.task = nil }
            }
            early.task = task
            return task
        }
        await task?.value
    }
}
