import Foundation
import Policy
package import RegionListener
import RegionProtocol

/// The agent's configuration (`agent run --config FILE`, JSON; see docs/region.md for every key).
package struct AgentConfig: Codable, Sendable {
    /// This host's id, as in the region policy.
    package var hostId: String
    /// The RC-TCB's base URL, e.g. https://10.20.0.10:8443; or the region's RC-TCBs, separated by commas, tried in
    /// turn when one does not answer or follows another (``RCTCBEndpoints``).
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
    /// Seconds between measurements, where this host is to measure more often than the region policy's
    /// `intervals.measurement` (which the RC-TCB sends; a longer value here has no effect). Absent: the region's.
    package var measurementInterval: Double?
    /// Seconds between ring challenges of the assigned neighbour, where shorter than the region policy's
    /// `intervals.challenge` (a longer value here has no effect). Absent: the region's.
    package var challengeInterval: Double?
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
    /// New connections the quote endpoint accepts per second from one address, in bursts of four seconds' worth
    /// (default ``ListenerLimits/agent``'s; 0: no limit).
    package var newConnectionsPerSecond: Double?
    /// What runs this host's VMs and carries out the RC-TCB's migration orders: `libvirt`, `qemu` (the lab's QEMU
    /// processes) or `xl` on a Xen dom0 (absent: none; the agent refuses orders with `order.no-vm-manager`).
    package var vmManager: String?
    /// How the agent reaches its VM manager: for libvirt the local daemon's URI (default `qemu:///system`); for qemu the
    /// directory of the VMs' QMP sockets and pid files (absolute; required); for xl the xl executable (default `xl`,
    /// looked up in PATH).
    package var vmManagerURI: String?
    /// How the other hosts' VM managers reach this one for an incoming migration: for libvirt this libvirtd's URI as
    /// seen from the other hosts, e.g. `qemu+tls://10.0.0.12/system`; for qemu `tcp:ADDRESS:LOW-HIGH`, the address and
    /// ports a receiving QEMU listens on; for xl the address of this dom0 on the migration network, e.g. `10.0.0.12`,
    /// where the agent takes the incoming stream (see docs/migration.md). Required with `vmManager`.
    package var migrationAddress: String?
    /// qemu only (required there): the directory holding the VMs' boot images; a VM coming here must boot from a file in
    /// it (absolute).
    package var vmImageDirectory: String?
    /// The fraction of its certificate's lifetime after which the agent renews it (default ``defaultRenewAt``, two
    /// thirds: 60 of 90 days); more than 0, less than 1.
    package var renewCertificateAt: Double?

    package static let defaultRenewAt = 2.0 / 3.0

    /// Where Linux exposes the firmware's TCG boot event log.
    package static let kernelBootLog = "/sys/kernel/security/tpm0/binary_bios_measurements"

    /// The boot log path in effect, or nil for none.
    package var resolvedBootLog: String? {
        if let bootLog { return bootLog.isEmpty ? nil : bootLog }
        return FileManager.default.fileExists(atPath: Self.kernelBootLog) ? Self.kernelBootLog : nil
    }

    package init(hostId: String, rctcb: String, stateDirectory: String, tcti: String? = nil, listenAddress: String = "127.0.0.1",
                listenPort: Int = 0, sources: [String] = [], measurementInterval: Double? = nil, challengeInterval: Double? = nil,
                challengeTimeout: Double = 5, push: Bool = true, bootLog: String? = nil, peerRefreshInterval: Double? = nil,
                maxConnectionsPerAddress: Int? = nil, newConnectionsPerSecond: Double? = nil, vmManager: String? = nil, vmManagerURI: String? = nil, migrationAddress: String? = nil,
                renewCertificateAt: Double? = nil, vmImageDirectory: String? = nil) {
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
        self.newConnectionsPerSecond = newConnectionsPerSecond
        self.vmManager = vmManager
        self.vmManagerURI = vmManagerURI
        self.migrationAddress = migrationAddress
        self.renewCertificateAt = renewCertificateAt
        self.vmImageDirectory = vmImageDirectory
    }

    /// The VM managers `vmManager` may name.
    package static let vmManagers = ["libvirt", "qemu", "xl"]

    /// The VM manager the configuration names, or nil for none; `agent.config-bad-value` for an unknown one or a
    /// missing `migrationAddress`.
    package func hostVMManager() throws(AgentEnrolment.Failure) -> (any HostVMManager)? {
        guard let vmManager else { return nil }
        guard Self.vmManagers.contains(vmManager) else {
            throw AgentEnrolment.Failure(code: "agent.config-bad-value", message: "key 'vmManager': '\(vmManager)' is not a VM manager (one of: \(Self.vmManagers.joined(separator: ", ")))")
        }
        guard let migrationAddress, !migrationAddress.isEmpty else {
            throw AgentEnrolment.Failure(code: "agent.config-bad-value", message: "key 'migrationAddress' is missing: with vmManager it says how other hosts' "
                                         + "VM managers reach this one (e.g. qemu+tls://10.0.0.12/system)")
        }
        if vmManager == "xl" {
            return XLVMManager(xl: vmManagerURI ?? "xl", incomingHost: migrationAddress, logDirectory: "\(stateDirectory)/xl")
        }
        if vmManager == "qemu" {
            if let problem = qemuProblem { throw AgentEnrolment.Failure(code: "agent.config-bad-value", message: problem.message) }
            guard let directory = vmManagerURI, let images = vmImageDirectory, let incoming = QEMUVMManager.Incoming.parse(migrationAddress) else {
                throw AgentEnrolment.Failure(code: "agent.config-bad-value", message: "the qemu VM manager's keys are incomplete")
            }
            return QEMUVMManager(directory: directory, imageDirectory: images, incoming: incoming)
        }
        return LibvirtVMManager(uri: vmManagerURI ?? "qemu:///system", incomingAddress: migrationAddress)
    }

    /// What is wrong with the keys the `qemu` VM manager needs, and which key to name (nil: nothing, or another manager).
    var qemuProblem: (key: CodingKeys, message: String)? {
        guard vmManager == "qemu" else {
            if vmImageDirectory != nil { return (.vmImageDirectory, "key 'vmImageDirectory' is only for vmManager qemu") }
            return nil
        }
        guard let directory = vmManagerURI, directory.hasPrefix("/") else {
            return (.vmManagerURI, "key 'vmManagerURI': with vmManager qemu it is the absolute path of the VMs' directory (their QMP sockets and pid files)")
        }
        guard directory.utf8.count <= 58 else {
            return (.vmManagerURI, "key 'vmManagerURI': the VMs' directory must be at most 58 bytes long "
                    + "(a VM's QMP socket DIR/NAME.mig.qmp, NAME up to 40 characters, must fit 107)")
        }
        guard let images = vmImageDirectory, images.hasPrefix("/") else {
            return (.vmImageDirectory, "key 'vmImageDirectory' is missing or not absolute: with vmManager qemu it names the directory of the VMs' boot images")
        }
        guard QEMUVMManager.Incoming.parse(migrationAddress ?? "") != nil else {
            return (.migrationAddress, "key 'migrationAddress': with vmManager qemu it is tcp:ADDRESS:LOW-HIGH (a numeric IPv4 address, ports 1024-65535), "
                    + "where a receiving QEMU listens, e.g. tcp:10.0.0.12:47000-47099")
        }
        return nil
    }

    /// The quote endpoint's listener limits: ``ListenerLimits/agent`` with this host's connection cap and rate.
    package var listenerLimits: ListenerLimits {
        var limits = ListenerLimits.agent
        if let maxConnectionsPerAddress { limits.maxConnectionsPerAddress = max(0, maxConnectionsPerAddress) }
        if let newConnectionsPerSecond { limits.newConnectionsPerSecond = newConnectionsPerSecond }
        return limits
    }

    /// The keys of agent.json, each once: the file may hold these and no other (a misspelt key is refused with a
    /// did-you-mean). A new setting is a stored property above and one case here.
    package enum CodingKeys: String, CodingKey, CaseIterable {
        case hostId, rctcb, stateDirectory, tcti, listenAddress, listenPort, sources, measurementInterval, challengeInterval
        case challengeTimeout, push, bootLog, peerRefreshInterval, maxConnectionsPerAddress, newConnectionsPerSecond
        case vmManager, vmManagerURI, migrationAddress, renewCertificateAt, vmImageDirectory
    }

    /// Reads the configuration file at `path`, strictly: an unknown key (with a did-you-mean), a missing key, a value
    /// of the wrong kind, text that is not JSON or an `rctcb` that is not https://HOST:PORT is a coded error
    /// (`agent.config-unknown-key`, `-missing-key`, `-wrong-type`, `-syntax`, `-bad-value`, `-unreadable`) naming the
    /// file, line and column.
    package static func load(_ path: String) throws(AgentEnrolment.Failure) -> AgentConfig {
        do throws(PolicyError) {
            let document = try ConfigurationDocument(contentsOf: path, what: "the agent configuration",
                                                     keys: CodingKeys.allCases.map(\.rawValue))
            let config: AgentConfig
            do { config = try JSONDecoder().decode(AgentConfig.self, from: Data(document.text.utf8)) } catch let e as DecodingError {
                throw document.error(for: e)
            } catch {
                throw document.error(.yamlSyntax, at: [], "the agent configuration is not JSON", hint: "agent.json is one JSON object")
            }
            do { _ = try RCTCBEndpoints(config.rctcb) } catch {
                throw document.error(.badValue, at: [CodingKeys.rctcb], "key 'rctcb': \(error.message)")
            }
            if let manager = config.vmManager, !vmManagers.contains(manager) {
                throw document.error(.badValue, at: [CodingKeys.vmManager],
                                     "key 'vmManager': '\(manager)' is not a VM manager (one of: \(vmManagers.joined(separator: ", ")))")
            }
            if config.vmManager != nil, (config.migrationAddress ?? "").isEmpty {
                throw document.error(.badValue, at: [CodingKeys.vmManager], "key 'migrationAddress' is missing: with vmManager it says how other "
                                     + "hosts' VM managers reach this one (e.g. qemu+tls://10.0.0.12/system)")
            }
            if let problem = config.qemuProblem {
                throw document.error(.badValue, at: [problem.key], problem.message)
            }
            if let rate = config.newConnectionsPerSecond, !RequestBudget.Limit.settableRates.contains(rate) {
                throw document.error(.badValue, at: [CodingKeys.newConnectionsPerSecond],
                                     "key 'newConnectionsPerSecond': \(rate) is not a rate (0 for no limit, up to \(RequestBudget.Limit.highestSettableRate))")
            }
            if let at = config.renewCertificateAt, !(at > 0 && at < 1) {
                throw document.error(.badValue, at: [CodingKeys.renewCertificateAt],
                                     "key 'renewCertificateAt': \(at) is not a fraction of the certificate's lifetime (more than 0, less than 1)")
            }
            return config
        } catch {
            throw failure(error)
        }
    }

    /// A configuration error as the agent's coded failure: `policy.X` becomes `agent.config-X`.
    static func failure(_ error: PolicyError) -> AgentEnrolment.Failure {
        var error = error
        // JSON is read as YAML (for positions); a syntax error says JSON.
        if error.message.hasPrefix("malformed YAML: ") { error.message = "not JSON: " + error.message.dropFirst(16) }
        let coded = ConfigurationDocument.coded(error, prefix: "agent.config-", hint: "docs/region.md lists the agent configuration's keys")
        return AgentEnrolment.Failure(code: coded.code, message: coded.message)
    }
}
