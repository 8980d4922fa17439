package import Foundation
package import Logging
package import Policy
import RegionProtocol

extension RegionError.Code {
    /// The reloaded policy differs in what only a restart applies (hosts, endpoints, the ring, intervals, …).
    package static let reloadNeedsRestart = Self(rawValue: "policy.reload-needs-restart")
}

/// A live reload of the region policy (`rctcb reload`, SIGHUP): the policy file and the golden files it names are
/// read and checked first; a bad or unappliable policy leaves the running one in force and says why. Each reload,
/// applied or refused, is an audit event with the policy's digest; hosts whose golden values changed are
/// challenged at once, so a verdict under the new policy follows within a round trip.
package actor PolicyReloader {
    /// What an applied reload changed.
    package struct Outcome: Codable, Sendable, Hashable {
        package var digest: String
        package var previousDigest: String
        /// Hosts whose golden values were added, removed or edited (each is challenged now).
        package var goldenChanged: [String]
    }

    let region: RegionState
    let logger: Logger
    private(set) var current: LoadedRegionPolicy

    package init(region: RegionState, loaded: LoadedRegionPolicy, logger: Logger) {
        self.region = region
        self.current = loaded
        self.logger = logger
    }

    /// Reloads the policy from the file the RC-TCB was started with. `trigger` says who asked (for the audit trail).
    package func reload(trigger: String) async throws(RegionError) -> Outcome {
        let store = region.store
        let new: LoadedRegionPolicy
        do { new = try LoadedRegionPolicy.load(current.file) } catch {
            // The policy parser's own code, with the file, line and column.
            try await refuse(RegionError(.init(rawValue: error.code.rawValue), error.description), trigger: trigger, store: store)
        }
        let restart = current.restartNeeded(for: new)
        guard restart.isEmpty else {
            try await refuse(RegionError(.reloadNeedsRestart, "\(restart.joined(separator: ", ")) changed: restart the RC-TCB to apply them "
                                       + "(a reload applies golden values only); the running policy stays in force"),
                       trigger: trigger, store: store)
        }
        let changed = current.goldenChanged(in: new)
        let outcome = Outcome(digest: new.digest, previousDigest: current.digest, goldenChanged: changed)
        // Taken over before the first suspension: a reload that starts meanwhile compares with this one.
        current = new
        await region.adopt(new)
        try await store.audit(host: nil, kind: "policy-reloaded", code: nil,
                              detail: "policy \(new.digest) (was \(outcome.previousDigest)), by \(trigger); golden values changed: "
                                  + (changed.isEmpty ? "none" : changed.joined(separator: ", ")), now: Date())
        logger.notice("region policy reloaded", metadata: ["attest.digest": "\(new.digest)", "attest.golden-changed": "\(changed.joined(separator: ","))"])
        for host in changed {
            guard let cfg = await region.config(host) else { continue }
            Task { await region.challengeDirectly(cfg, reason: "policy reloaded: its golden values changed", now: Date()) }
        }
        return outcome
    }

    private func refuse(_ error: RegionError, trigger: String, store: any RegionStore) async throws(RegionError) -> Never {
        logger.error("region policy reload refused; the running policy stays in force",
                     metadata: ["attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
        try await store.audit(host: nil, kind: "policy-reload-refused", code: error.code.rawValue,
                              detail: "by \(trigger); running policy \(current.digest) stays: \(error.reason)", now: Date())
        throw error
    }
}
