/// A host's state in the IVT (the design's states). `unreachable` (silent) is never confused with
/// `untrusted` (verified evidence of a bad hypervisor).
package enum HostState: String, Sendable, Hashable, Codable, CaseIterable {
    case unknown, trusted, untrusted, unreachable, stale, rebooted, evacuating, evacuated
}
