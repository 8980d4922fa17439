import Foundation

/// The agent's configuration (`agent run --config FILE`, JSON; see docs/region.md for every key).
public struct AgentConfig: Codable, Sendable {
    /// This host's id, as in the region policy.
    public var hostId: String
    /// The RC-TCB's base URL, e.g. https://10.20.0.10:8443.
    public var rctcb: String
    /// State directory: ak.json, measurements.log, tls.key, tls.pem, region-ca.pem.
    public var stateDirectory: String
    /// TCTI of the TPM (default device:/dev/tpmrm0).
    public var tcti: String?
    /// Address and port of this agent's quote endpoint.
    public var listenAddress: String
    public var listenPort: Int
    /// Measurement sources (SourceSpec syntax: file:PATH, process-text:pid=N, ...).
    public var sources: [String]
    /// Seconds between measurements.
    public var measurementInterval: Double
    /// Seconds between ring challenges of the assigned neighbour.
    public var challengeInterval: Double
    /// Seconds to wait for the neighbour's answer before reporting "no answer".
    public var challengeTimeout: Double
    /// Push a notice to the RC-TCB as soon as a measurement changes.
    public var push: Bool
    /// The TCG boot event log attached to every evidence bundle (the RC-TCB replays it before a rebooted host is
    /// trusted again). Absent: the kernel's log (``kernelBootLog``) when it exists; "": none.
    public var bootLog: String?

    /// Where Linux exposes the firmware's TCG boot event log.
    public static let kernelBootLog = "/sys/kernel/security/tpm0/binary_bios_measurements"

    /// The boot log path in effect, or nil for none.
    public var resolvedBootLog: String? {
        if let bootLog { return bootLog.isEmpty ? nil : bootLog }
        return FileManager.default.fileExists(atPath: Self.kernelBootLog) ? Self.kernelBootLog : nil
    }

    public init(hostId: String, rctcb: String, stateDirectory: String, tcti: String? = nil, listenAddress: String = "127.0.0.1",
                listenPort: Int = 0, sources: [String] = [], measurementInterval: Double = 30, challengeInterval: Double = 60,
                challengeTimeout: Double = 5, push: Bool = true, bootLog: String? = nil) {
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
    }
}
