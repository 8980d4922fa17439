import ChildProcesses
import Measurement
package import Foundation
package import NamespaceLab
package import RegionTCB
package import Swtpm

/// A SMIG region of separate libvirt hosts on one machine: NamespaceLab's ``LibvirtHosts`` (each host its own network,
/// mount and UTS namespace with its own address, libvirtd and virtlogd) and, inside each host's namespaces, its own
/// swtpm (EK certificates from its own local CA) and its own `smig-attest agent` with the libvirt VM manager, its
/// migration address the host's libvirtd on the lab's bridge. The RC-TCB runs outside the namespaces (the root
/// namespace, reached by the hosts at the bridge's address) and moves VMs only by orders to the agents
/// (`migrations: agent`): the migration stream goes from one host's libvirtd to the other's across their links.
/// The VMs are libvirt domains the region did not start; the agents report them and the RC-TCB adopts them.
///
/// Each host's hypervisor is stood in for by a file of its own, measured by its agent (`file:`); ``compromise(_:)``
/// writes into it, as an attacker with root on that host could. Everything it starts, ``stop()`` stops.
package final class NamespaceRegion: @unchecked Sendable {
    // @unchecked Sendable: driven by one task at a time (`stop` may also come from a signal handler, once);
    // its child processes are ``RegionProcesses``'s.
    package struct Options: Sendable {
        package var hosts = 3
        package var measurementInterval = 0.3
        package var challengeInterval = 1.0
        /// The smig-attest executable the agents and the RC-TCB run as.
        package var binary: String
        package init(binary: String) { self.binary = binary }
    }

    package struct Host: Sendable {
        /// The region's name for it: host-1, host-2, …
        package var id: String
        /// The libvirt host it is.
        package var lab: LibvirtHosts.Host
        package var swtpm: SoftwareTPM
        /// The swtpm's TCTI inside the host's network namespace.
        package var tcti: String
        package var stateDirectory: String
        package var agentConfig: String
        /// The file standing in for the host's hypervisor, measured by its agent.
        package var hypervisor: String
    }

    /// The lab could not be made here (not root, no namespaces, no libvirtd): a reason to run on loopback instead.
    package struct Unavailable: Error, CustomStringConvertible {
        package let description: String
    }

    package let options: Options
    package let dir: String
    package private(set) var lab: LibvirtHosts?
    package private(set) var hosts: [Host] = []
    package private(set) var url = ""
    package var rctcbDir: String { "\(dir)/rctcb" }
    package var regionFile: String { "\(dir)/region.yaml" }
    let processes: RegionProcesses
    let say: @Sendable (String) -> Void
    /// The agents' port: every host has its own network namespace, so they all listen on the same one.
    static let agentPort = 7443

    package init(_ options: Options, say: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.options = options
        self.say = say
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-region-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        processes = RegionProcesses(binary: options.binary, dir: dir)
        // Who made it: a directory whose owner is gone was left behind (the tests look for those).
        try String(getpid()).write(toFile: "\(dir)/owner", atomically: true, encoding: .utf8)
    }

    package func store() throws -> IVTStore { try IVTStore(path: "\(rctcbDir)/ivt.sqlite") }

    /// The host with region id `id`.
    package func host(_ id: String) -> Host? { hosts.first { $0.id == id } }

    // MARK: Bring-up

    /// Brings the hosts up (throws ``Unavailable`` when the lab cannot be made here), then the region, and waits until
    /// every host is `trusted`.
    package func start() async throws {
        guard SoftwareTPM.isAvailable else { throw Unavailable(description: "swtpm, swtpm_setup and swtpm_localca are needed (apt-get install swtpm swtpm-tools)") }
        let missing = LibvirtHosts.missingRequirements()
        guard missing.isEmpty else { throw Unavailable(description: "the namespace lab needs \(missing.joined(separator: ", "))") }
        say("making \(options.hosts) libvirt hosts, each its own network, mount and UTS namespace with its own libvirtd")
        let lab: LibvirtHosts
        do { lab = try await LibvirtHosts.up(count: options.hosts) } catch { throw Unavailable(description: "\(error)") }
        self.lab = lab
        say("hosts \(lab.hosts.map { "\($0.name) \($0.address)" }.joined(separator: ", ")) on a bridge; the RC-TCB at \(lab.rootAddress)")

        say("starting a software TPM inside each host's namespaces")
        var caFiles: [String] = []
        for (i, labHost) in lab.hosts.enumerated() {
            let id = "host-\(i + 1)"
            let swtpm = try SoftwareTPM(root: URL(fileURLWithPath: "\(dir)/tpm-\(i + 1)"))
            let enter = try labHost.enter()
            let tcti = try await startSwtpm(swtpm, in: enter, pidFile: "\(dir)/swtpm-\(i + 1).pid")
            try processes.boot(tcti: tcti, host: id, in: enter)
            let state = "\(dir)/state-\(i + 1)"
            try processes.run(["tpm", "provision", "--tcti", tcti, "--state-dir", state], in: enter)
            let hypervisor = "\(dir)/hypervisor-\(i + 1).bin"
            try Self.goodHypervisor(labHost).write(to: URL(fileURLWithPath: hypervisor))
            let golden = try processes.run(["golden", "capture", "--source", "file:\(hypervisor)", "--name", "\(id)-hypervisor"])
            try Data(golden.utf8).write(to: URL(fileURLWithPath: "\(dir)/golden-\(i + 1).yaml"))
            let ca = swtpm.root.appendingPathComponent("localca")
            caFiles += [ca.appendingPathComponent("swtpm-localca-rootca-cert.pem").path, ca.appendingPathComponent("issuercert.pem").path]
            hosts.append(Host(id: id, lab: labHost, swtpm: swtpm, tcti: tcti, stateDirectory: state,
                              agentConfig: "\(dir)/agent-\(i + 1).json", hypervisor: hypervisor))
        }
        try writeRegionPolicy(rctcb: lab.rootAddress)
        say("creating the region CA and the IVT; starting the RC-TCB outside the namespaces")
        try processes.run(["rctcb", "init", "--region", regionFile, "--dir", rctcbDir] + caFiles.flatMap { ["--ek-ca", $0] }
                          + ["127.0.0.1", "localhost", lab.rootAddress].flatMap { ["--server-name", $0] })
        let port = try SoftwareTPM.freePortPair()
        url = try processes.startRCTCB(region: regionFile, rctcbDir: rctcbDir, port: port, extra: ["--listen", "0.0.0.0"])
        let rctcb = "https://\(lab.rootAddress):\(port)"
        say("enrolling \(hosts.count) hosts from inside their namespaces and starting their agents (VM manager: libvirt)")
        for i in hosts.indices {
            let h = hosts[i]
            try processes.run(["agent", "enrol", "--rctcb", rctcb, "--ca", "\(rctcbDir)/region-ca.pem", "--host-id", h.id, "--tcti", h.tcti,
                               "--state-dir", h.stateDirectory], in: try h.lab.enter())
            let config: [String: Any] = [
                "hostId": h.id, "rctcb": rctcb, "stateDirectory": h.stateDirectory, "tcti": h.tcti, "listenAddress": h.lab.address,
                "listenPort": Self.agentPort, "sources": ["file:\(h.hypervisor)"], "measurementInterval": options.measurementInterval,
                "challengeInterval": options.challengeInterval, "challengeTimeout": 2, "push": true, "bootLog": "\(dir)/boot-\(h.id).bin",
                "vmManager": "libvirt", "vmManagerURI": h.lab.localURI, "migrationAddress": h.lab.tcpURI,
            ]
            try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: h.agentConfig))
            try startAgent(i)
        }
        let store = try store()
        try await processes.waitUntil("every host trusted", seconds: 240) { try store.rows().allSatisfy { $0.state == .trusted } }
    }

    /// Starts swtpm inside the host's namespaces on the namespace's own loopback; returns the TCTI once it answers.
    func startSwtpm(_ swtpm: SoftwareTPM, in enter: [String], pidFile: String) async throws -> String {
        guard let path = Executables.which("swtpm") else { throw Unavailable(description: "swtpm is needed") }
        return try await processes.startSwtpm(swtpm, path: path, in: enter, pidFile: pidFile)
    }

    func writeRegionPolicy(rctcb: String) throws {
        let entries = hosts.enumerated().map { i, h in
            RegionProcesses.PolicyHost(id: h.id, address: h.lab.address, port: Self.agentPort, golden: "golden-\(i + 1).yaml", extra: ", migrations: agent")
        }
        try RegionProcesses.writeRegionPolicy(to: regionFile, name: "namespace-lab", rctcb: rctcb, hosts: entries, challengeInterval: options.challengeInterval)
    }

    /// Starts host `i`'s agent inside its namespaces.
    package func startAgent(_ i: Int) throws {
        try processes.spawn("agent-\(hosts[i].id)", ["agent", "run", "--config", hosts[i].agentConfig, "--log-level", "notice"], in: try hosts[i].lab.enter())
    }

    package func stopAgent(_ i: Int) { processes.stop("agent-\(hosts[i].id)") }

    // MARK: Guests

    /// Defines and starts a counting guest `name` on host `id` with virsh, as an operator would: the region never
    /// starts it; the host's agent reports it and the RC-TCB adopts it.
    package func defineGuest(_ name: String, on id: String, memoryMiB: Int = 64) async throws {
        guard let lab, let h = host(id) else { throw RegionProcesses.Failure(description: "no host \(id)") }
        try await lab.defineCountingGuest(name, memoryMiB: memoryMiB, on: h.lab)
    }

    // MARK: Compromise

    /// Writes into host `index`'s hypervisor (its stand-in file), as an attacker with root on that host could.
    /// Returns when it was written.
    @discardableResult
    package func compromise(_ index: Int) throws -> Date {
        let at = Date()
        try Data("evil hypervisor\n".utf8).write(to: URL(fileURLWithPath: hosts[index].hypervisor))
        return at
    }

    /// Whether process `pid` has ended: no such process, or a zombie (the daemon's parent, init, reaps it later).
    static func gone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// The hypervisor stand-in of a good host.
    static func goodHypervisor(_ host: LibvirtHosts.Host) -> Data {
        Data("libvirt host \(host.name): the hypervisor's code (a lab stand-in)\n".utf8)
    }

    /// Brings a compromised host back as a freshly booted one: its hypervisor good again, a TPM reset (orderly
    /// shutdown, swtpm restarted inside the host's namespaces, startup-clear, the synthetic boot log extended), a new
    /// measurement log, the agent restarted. The RC-TCB sees the reset (`rebooted`) and re-attests it.
    package func repair(_ index: Int) async throws {
        let h = hosts[index]
        let enter = try h.lab.enter()
        stopAgent(index)
        try Self.goodHypervisor(h.lab).write(to: URL(fileURLWithPath: h.hypervisor))
        // An orderly TPM2_Shutdown(CLEAR) first, so the TPM's clock stays `safe` across the reset.
        _ = try? processes.run(["-T", h.tcti, "-c"], tool: "/usr/bin/tpm2_shutdown", in: enter)
        let pidFile = "\(dir)/swtpm-\(index + 1).pid"
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            // swtpm may not act on SIGTERM while a client keeps its connection open: two seconds, then SIGKILL.
            await Termination.terminate(pid, grace: .seconds(2)) { !Self.gone(pid) }
        }
        _ = try await startSwtpm(h.swtpm, in: enter, pidFile: pidFile)
        try processes.boot(tcti: h.tcti, host: h.id, in: enter)
        try? FileManager.default.removeItem(atPath: "\(h.stateDirectory)/\(MeasurementLog.fileName)")
        try startAgent(index)
    }

    // MARK: Teardown

    /// Stops every process it started (agents, the RC-TCB, the swtpms, libvirtd and its guests, the namespaces)
    /// and removes its directories. Synchronous, for a Ctrl-C handler too.
    package func stop() {
        processes.stopAll()
        lab?.downNow()
        for h in hosts { h.swtpm.destroy() }
        try? FileManager.default.removeItem(atPath: dir)
    }
}
