import Foundation
package import RegionListener

/// The agent's configuration (`agent run --config FILE`, JSON; see docs/region.md for every key).
package struct AgentConfig: Codable, Sendable {
    /// This host's id, as in the region policy.
    package var hostId: String
    /// The RC-TCB's base URL, e.g. https://10.20.0.10:8443.
    package var rctcb: String
    /// State directory: ak.json, measurements.log, tls.key, tls.pem, region-ca.pem.
    package var stateDirectory: String
    /// TCTI of the TPM (default device:/dev/tpmrm0).
    package var tcti: String?
    /// Address and port of this agent's quote endpoint.
    package var listenAddress: String
    package var listenPort: Int
    /// Measurement sources (SourceSpec syntax: file:PATH, process-text:pid=N, ...).
    package var sources: [String]
    /// Seconds between measurements.
    package var measurementInterval: Double
    /// Seconds between ring challenges of the assigned neighbour.
    package var challengeInterval: Double
    /// Seconds to wait for the neighbour's answer before reporting "no answer".
    package var challengeTimeout: Double
    /// Push a notice to the RC-TCB as soon as a measurement changes.
    package var push: Bool
    /// The TCG boot event log attached to every evidence bundle (the RC-TCB replays it before a rebooted host is
    /// trusted again). Absent: the kernel's log (``kernelBootLog``) when it exists; "": none.
    package var bootLog: String?
    /// Seconds between asking the RC-TCB whose certificates this agent may serve quotes to (default 10).
    package var peerRefreshInterval: Double?
    /// Connections the quote endpoint accepts at once from one address (default ``ListenerLimits/agent``'s; 0: no cap).
    package var maxConnectionsPerAddress: Int?

    /// Where Linux exposes the firmware's TCG boot event log.
    package static let kernelBootLog = "/sys/kernel/security/tpm0/binary_bios_measurements"

    /// The boot log path in effect, or nil for none.
    package var resolvedBootLog: String? {
        if let bootLog { return bootLog.isEmpty ? nil : bootLog }
        return FileManager.default.fileExists(atPath: Self.kernelBootLog) ? Self.kernelBootLog : nil
    }

    package init(hostId: String, rctcb: String, stateDirectory: String, tcti: String? = nil, listenAddress: String = "127.0.0.1",
                listenPort: Int = 0, sources: [String] = [], measurementInterval: Double = 30, challengeInterval: Double = 60,
                challengeTimeout: Double = 5, push: Bool = true, bootLog: String? = nil, peerRefreshInterval: Double? = nil,
                maxConnectionsPerAddress: Int? = nil) {
        self.hostId = hostId
        self.rctcb = rctcb
        self.stateDirectory = stateDirectory
        self.tcti = tcti
        self.listenAddress = listenAddress
        self.listenPort = listenPort
        self.sources = sources
        self.measurementInterval = measurementInterval
        self.challengeInterval = challengeInterval
        self.challengeTimeout = challengeTimeout
        self.push = push
        self.bootLog = bootLog
        self.peerRefreshInterval = peerRefreshInterval
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
    }

    /// The quote endpoint's listener limits: ``ListenerLimits/agent`` with this host's connection cap.
    package var listenerLimits: ListenerLimits {
        var limits = ListenerLimits.agent
        if let maxConnectionsPerAddress { limits.maxConnectionsPerAddress = max(0, maxConnectionsPerAddress) }
        return limits
    }
}
