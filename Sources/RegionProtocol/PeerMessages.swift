/// The RC-TCB's answer to an agent's `GET /v1/peers[?since=VERSION]`: whose region certificates the agent may
/// serve quotes to. An agent certificate names a host and the AK Name it was issued against; the agent serves it
/// only while that host is enrolled with that AK and not revoked.
package struct RegionPeers: Codable, Hashable, Sendable {
    /// The version of the RC-TCB's table this list was read from; the agent sends it back as `since`.
    package var version: Int64
    /// Enrolled, unrevoked hosts: host id → AK Name (hex). nil: unchanged since the `since` the agent sent.
    package var enrolled: [String: String]?
    /// Revoked hosts. nil: unchanged since `since`.
    package var revoked: [String]?
    /// The region's measurement and challenge intervals (the region policy's `intervals`), in every answer.
    package var intervals: RegionIntervals?

    package init(version: Int64, enrolled: [String: String]? = nil, revoked: [String]? = nil, intervals: RegionIntervals? = nil) {
        self.version = version
        self.enrolled = enrolled
        self.revoked = revoked
        self.intervals = intervals
    }
}
