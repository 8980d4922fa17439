/// How a live migration may use the link: QEMU's migration parameters and capabilities.
///
/// QEMU's own defaults (a 128 MiB/s bandwidth cap, a 300 ms downtime limit) are made for background moves
/// that must not disturb other traffic. An evacuation is the opposite case: the VM must leave a host that
/// turned bad as fast as the link allows, so ``evacuation`` lifts the cap and asks for a short downtime.
package struct MigrationTuning: Codable, Sendable, Hashable {
    /// Bytes per second the migration may use; nil leaves QEMU's default (128 MiB/s).
    package var maxBandwidthBytesPerSecond: UInt64?
    /// Longest pause of the guest QEMU aims for in the final copy, in ms; nil leaves QEMU's default (300 ms).
    package var downtimeLimitMs: UInt64?
    /// Parallel TCP channels for RAM (QEMU multifd); 0 sends everything on the one migration stream.
    package var multifdChannels: Int
    /// Throttle the guest's vCPUs when it dirties memory faster than the link can send it.
    package var autoConverge: Bool

    package init(maxBandwidthBytesPerSecond: UInt64? = nil, downtimeLimitMs: UInt64? = nil, multifdChannels: Int = 0, autoConverge: Bool = false) {
        self.maxBandwidthBytesPerSecond = maxBandwidthBytesPerSecond
        self.downtimeLimitMs = downtimeLimitMs
        self.multifdChannels = multifdChannels
        self.autoConverge = autoConverge
    }

    /// QEMU's defaults: nothing is set.
    package static let qemuDefaults = MigrationTuning()

    /// Made for evacuation: no practical bandwidth cap (10 GiB/s), 50 ms downtime, auto-converge on.
    package static let evacuation = MigrationTuning(maxBandwidthBytesPerSecond: 10 << 30, downtimeLimitMs: 50, multifdChannels: 0, autoConverge: true)

    /// True if nothing differs from QEMU's defaults.
    package var isQEMUDefault: Bool { self == .qemuDefaults }

    /// The `migrate-set-parameters` arguments (empty when nothing is set).
    package var qmpParameters: [String: JSONValue] {
        var p: [String: JSONValue] = [:]
        if let b = maxBandwidthBytesPerSecond { p["max-bandwidth"] = .number(Double(b)) }
        if let d = downtimeLimitMs { p["downtime-limit"] = .number(Double(d)) }
        if multifdChannels > 0 { p["multifd-channels"] = .number(Double(multifdChannels)) }
        return p
    }

    /// The `migrate-set-capabilities` list for the source (and, for multifd, the target).
    package var qmpCapabilities: [JSONValue] {
        var caps: [JSONValue] = []
        if autoConverge { caps.append(.object(["capability": .string("auto-converge"), "state": .bool(true)])) }
        if multifdChannels > 0 { caps.append(.object(["capability": .string("multifd"), "state": .bool(true)])) }
        return caps
    }
}
