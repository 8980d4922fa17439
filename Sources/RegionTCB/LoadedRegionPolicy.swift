import Crypto
package import Foundation
package import Policy
import TPMWire

/// The region policy as the RC-TCB runs it: the policy file, each host's golden values (the files it names,
/// relative to the policy's directory) and one digest over all of those bytes, so that an edit of a golden file
/// is a new policy as much as an edit of the region file.
package struct LoadedRegionPolicy: Sendable {
    package var file: String
    package var policy: RegionPolicy
    package var hosts: [RegionState.HostConfig]
    /// SHA-256 (hex) over the region file's text and, host by host, each golden file's path and text.
    package var digest: String
    /// SHA-256 (hex) of each host's golden file's text (absent: the host has none).
    package var goldenDigests: [String: String]

    /// Reads the region policy and every golden file it names, with the policy parser's size, UTF-8 and schema
    /// checks; the first bad file is the error (its file, line and column).
    package static func load(_ regionFile: String) throws(PolicyError) -> LoadedRegionPolicy {
        let text = try PolicyDocument.text(contentsOfFile: regionFile)
        let policy = try RegionPolicy(yaml: text, file: regionFile)
        let base = URL(fileURLWithPath: regionFile).deletingLastPathComponent()
        var digest = SHA256()
        digest.update(data: Data(text.utf8))
        var hosts: [RegionState.HostConfig] = []
        var goldenDigests: [String: String] = [:]
        for h in policy.hosts {
            var golden: GoldenValues?
            if let g = h.golden {
                let path = g.hasPrefix("/") ? g : base.appendingPathComponent(g).path
                let goldenText = try PolicyDocument.text(contentsOfFile: path)
                golden = try GoldenValues(yaml: goldenText, file: path)
                digest.update(data: Data("\0\(h.id)\0\(path)\0".utf8))
                digest.update(data: Data(goldenText.utf8))
                goldenDigests[h.id] = Hex.encode(Array(SHA256.hash(data: Data(goldenText.utf8))))
            }
            hosts.append(.init(id: h.id, address: h.endpoint.address, port: h.endpoint.port, golden: golden, bootLog: h.bootLog))
        }
        return LoadedRegionPolicy(file: regionFile, policy: policy, hosts: hosts, digest: Hex.encode(Array(digest.finalize())),
                                  goldenDigests: goldenDigests)
    }

    /// The hosts whose golden values differ in `new` (added, removed or edited).
    package func goldenChanged(in new: LoadedRegionPolicy) -> [String] {
        Set(goldenDigests.keys).union(new.goldenDigests.keys).filter { goldenDigests[$0] != new.goldenDigests[$0] }.sorted()
    }

    /// What differs in `new` that a running RC-TCB cannot take over (empty: only golden values and the hosts'
    /// `boot-log:` differ, which a reload applies). Hosts, endpoints, the ring, intervals, targets, migration, evacuation, webhooks and EK pins
    /// are read once at start: the listener, the scheduler, the evacuator and enrolment hold them.
    package func restartNeeded(for new: LoadedRegionPolicy) -> [String] {
        func withoutGolden(_ p: RegionPolicy) -> [RegionPolicy.Host] {
            p.hosts.map { h in
                var h = h
                (h.golden, h.goldenLine, h.goldenColumn, h.bootLog) = (nil, 0, 0, .required)
                return h
            }
        }
        let (a, b) = (policy, new.policy)
        let fields: [(String, Bool)] = [
            ("name", a.name == b.name), ("rc-tcb", a.rcTCB == b.rcTCB), ("hosts", withoutGolden(a) == withoutGolden(b)), ("ring", a.ring == b.ring),
            ("intervals", a.measurementInterval == b.measurementInterval && a.challengeInterval == b.challengeInterval),
            ("quote-freshness", a.quoteFreshness == b.quoteFreshness), ("unreachable-timeout", a.unreachableTimeout == b.unreachableTimeout),
            ("on-state", a.actions == b.actions), ("targets", a.targets == b.targets), ("migration", a.migration == b.migration),
            ("evacuation", a.evacuation == b.evacuation), ("webhooks", a.webhooks == b.webhooks),
        ]
        let differing = fields.filter { !$0.1 }.map(\.0)
        // Anything else the policy holds (a setting added later) needs a restart as well.
        var (x, y) = (a, b)
        (x.hosts, y.hosts) = (withoutGolden(a), withoutGolden(b))
        if differing.isEmpty, x != y { return ["other settings"] }
        return differing
    }
}
