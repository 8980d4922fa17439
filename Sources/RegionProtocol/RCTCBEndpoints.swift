import Foundation
import Synchronization

/// The RC-TCBs of a region as an agent or an operator is given them: `https://HOST:PORT`, or several separated by
/// commas (`https://a:8443,https://b:8443`), the region's RC-TCBs on one PostgreSQL store. Only the leader answers
/// the agents' and the operator's routes; a follower answers `rctcb.not-leader`, and a dead one does not answer at
/// all. ``call(_:)`` asks the RC-TCB that answered last, and on either of those the next one, each once.
package final class RCTCBEndpoints: Sendable {
    package let urls: [String]
    let current = Mutex(0)

    /// Every URL is checked (`transport.bad-url`, naming it); an empty list is one too.
    package init(_ text: String) throws(RegionClient.Failure) {
        var urls: [String] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            urls.append(try RegionClient.baseURL(part.trimmingCharacters(in: .whitespaces)))
        }
        guard !urls.isEmpty else { throw RegionClient.Failure(code: "transport.bad-url", message: "no RC-TCB URL given", status: nil) }
        self.urls = urls
    }

    /// The RC-TCB asked first.
    package var base: String { urls[current.withLock { $0 }] }

    /// Runs `body` with an RC-TCB's base URL: the one that answered last, then each other in turn while they do not
    /// answer (`transport.unreachable`) or follow (`rctcb.not-leader`). Any other answer, an error too, is final.
    package func call<T>(_ body: (String) async throws -> T) async throws -> T {
        let start = current.withLock { $0 }
        var last: (any Error)?
        for k in 0..<urls.count {
            let i = (start + k) % urls.count
            do {
                let answer = try await body(urls[i])
                if k > 0 { current.withLock { $0 = i } }
                return answer
            } catch let f as RegionClient.Failure where Self.failsOver(f) {
                last = f
            }
        }
        throw last!
    }

    /// Whether another RC-TCB may answer what this one did not.
    package static func failsOver(_ f: RegionClient.Failure) -> Bool {
        f.code == "transport.unreachable" || f.code == notLeader
    }

    /// What a follower answers to the routes only the leader serves.
    package static let notLeader = "rctcb.not-leader"
}
