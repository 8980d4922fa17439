package import RegionProtocol

/// Enrolment is two requests to one RC-TCB: `begin` opens a challenge there, `complete` answers it. A challenge lives
/// only in the RC-TCB that issued it, and only for its lifetime (a minute). So a completion that cannot reach that
/// challenge any more does not end the enrolment: the agent starts it again with a new `begin` (which fails over to
/// another RC-TCB), a few times at most. That is the case when the completion is refused because
///
/// - the challenge expired (`enrol.challenge-expired`): it waited past the minute, for example over the enrolment
///   budget of its address;
/// - the RC-TCB does not know it (`enrol.unknown-challenge`): it restarted, or the challenge was already used;
/// - the RC-TCB stopped leading (`rctcb.not-leader`) or does not answer (`transport.unreachable`): another RC-TCB
///   took over the region, and challenges are not handed over;
/// - it was still over the address's enrolment budget when its patience ran out (`request.rate-limited`).
///
/// Every other refusal (the credential was not recovered, the host was revoked, the certificate is not trusted, …)
/// ends the enrolment at once: asking again would get the same answer.
package enum EnrolmentRounds {
    /// Rounds of `begin` and `complete` before the last refusal is the answer.
    package static let defaultRounds = 3

    /// Whether a new round may succeed after the completion failed so: its challenge expired or is unknown, it was
    /// still over the budget, or its RC-TCB is one another RC-TCB may stand in for (``RCTCBEndpoints/failsOver(_:)``).
    package static func restarts(after failure: RegionClient.Failure) -> Bool {
        RCTCBEndpoints.failsOver(failure) || ["enrol.challenge-expired", "enrol.unknown-challenge", RateLimitedRetry.code].contains(failure.code)
    }

    /// What one round of `begin` failed with ends the enrolment (its own retries, over the budget and to the other
    /// RC-TCBs, are done inside it); what its completion failed with starts another round when it is one of
    /// ``restarts(after:)``, up to `rounds`. `round` is given the number of the round (1, 2, …) and returns the
    /// completion's outcome as `.completed` or throws from `begin`.
    package static func run<T>(rounds: Int = defaultRounds, restarted: (Int, RegionClient.Failure) -> Void = { _, _ in },
                               _ round: (Int) async throws -> Completion<T>) async throws -> T {
        precondition(rounds >= 1)
        var n = 1
        while true {
            switch try await round(n) {
            case .completed(let value):
                return value
            case .refused(let failure):
                guard n < rounds, restarts(after: failure) else { throw failure }
                restarted(n, failure)
                n += 1
            }
        }
    }

    /// How a round's completion ended.
    package enum Completion<T> {
        case completed(T)
        /// The completion was refused (or not answered): a new round may follow.
        case refused(RegionClient.Failure)
    }
}
