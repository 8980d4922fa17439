import ChildProcesses
package import Foundation
import BuiltInGuests
import SyntheticBootLogs
package import Swtpm
package import Migration
package import RegionTCB
import TPM
import TPMWire
import Measurement

/// A whole SMIG region on loopback, made of real parts: per host a swtpm (with EK certificates from its own
/// local CA), an agent process, a QEMU process standing in for the hypervisor (measured as `process-text`)
/// and test VMs (ticker guests); one RC-TCB process with its SQLite IVT and VM inventory. `smig-attest demo`
/// and `smig-attest bench response` are built on it. Everything it starts it stops again (`stop`).
package final class LoopbackRegion: @unchecked Sendable {
    // @unchecked Sendable: driven by one task at a time; its child processes are ``RegionProcesses``'s.
    package struct Options: Sendable {
        package var hosts = 5
        package var vmsPerHost = 2
        package var vmMemoryMiB = 64
        /// Agents push a notice as soon as a measurement changes (false: only the ring's challenges find it).
        package var push = true
        package var measurementInterval = 0.2
        package var challengeInterval = 1.0
        /// The smig-attest executable the agents and the RC-TCB run as.
        package var binary: String
        /// Work directory (default: a new temporary one, removed by `stop`).
        package var directory: String?
        package init(binary: String) { self.binary = binary }
    }

    package struct Host: Sendable {
        package var id: String
        package var swtpm: SoftwareTPM
        package var stateDirectory: String
        package var agentPort: Int
        package var agentConfig: String
        /// The QEMU process standing in for this host's hypervisor.
        package var hypervisor: VMInstance
    }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    package let options: Options
    package let dir: String
    let ownsDirectory: Bool
    package private(set) var hosts: [Host] = []
    package private(set) var url = ""
    package var rctcbDir: String { "\(dir)/rctcb" }
    package var regionFile: String { "\(dir)/region.yaml" }
    let processes: RegionProcesses
    let say: @Sendable (String) -> Void
    var rctcbPort = 0
    var hypervisorImage = ""

    package init(_ options: Options, say: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.options = options
        self.say = say
        ownsDirectory = options.directory == nil
        dir = options.directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("smig-region-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        processes = RegionProcesses(binary: options.binary, dir: dir)
        // Who made it: a directory whose owner is gone was left behind (the tests look for those).
        try String(getpid()).write(toFile: "\(dir)/owner", atomically: true, encoding: .utf8)  // not *.pid: stop() kills those
    }

    package func store() throws -> IVTStore { try IVTStore(path: "\(rctcbDir)/ivt.sqlite") }
    package func inventory() throws -> VMInventory { try VMInventory(path: "\(rctcbDir)/vms.sqlite") }

    // MARK: Bring-up

    /// Brings the whole region up and waits until every host is `trusted`.
    package func start() async throws {
        guard SoftwareTPM.isAvailable else { throw Failure(description: "swtpm, swtpm_setup and swtpm_localca are needed (apt-get install swtpm swtpm-tools)") }
        hypervisorImage = try TestGuest.writeImage(to: "\(dir)/images/ticker-guest.img", kind: .ticker)
        var caFiles: [String] = []
        say("starting \(options.hosts) software TPMs and hypervisor processes")
        for i in 1...options.hosts {
            let id = "host-\(i)"
            let swtpm = try SoftwareTPM(root: URL(fileURLWithPath: "\(dir)/tpm-\(i)"))
            try swtpm.start()
            try boot(swtpm, host: id)
            let state = "\(dir)/state-\(i)"
            try run(["tpm", "provision", "--tcti", swtpm.tcti, "--state-dir", state])
            let ca = swtpm.root.appendingPathComponent("localca")
            caFiles += [ca.appendingPathComponent("swtpm-localca-rootca-cert.pem").path, ca.appendingPathComponent("issuercert.pem").path]
            let hv = try await startHypervisor(id)
            hosts.append(Host(id: id, swtpm: swtpm, stateDirectory: state, agentPort: try SoftwareTPM.freePortPair(),
                              agentConfig: "\(dir)/agent-\(i).json", hypervisor: hv))
        }
        // One golden file: every host runs the same QEMU build, so its code measures the same everywhere.
        let golden = try run(["golden", "capture", "--source", "process-text:pid=\(try pid(of: hosts[0].hypervisor))", "--name", "qemu-hypervisor"])
        try Data(golden.utf8).write(to: URL(fileURLWithPath: "\(dir)/golden.yaml"))
        try writeRegionPolicy()
        say("creating the region CA and the IVT; starting the RC-TCB")
        try run(["rctcb", "init", "--region", regionFile, "--dir", rctcbDir] + caFiles.flatMap { ["--ek-ca", $0] })
        rctcbPort = try SoftwareTPM.freePortPair()
        try startRCTCB()
        let inventory = try inventory()
        say("enrolling \(options.hosts) hosts (EK certificate chain, MakeCredential/ActivateCredential) and starting their agents")
        for i in hosts.indices {
            let h = hosts[i]
            try run(["agent", "enrol", "--rctcb", url, "--ca", "\(rctcbDir)/region-ca.pem", "--host-id", h.id, "--tcti", h.swtpm.tcti, "--state-dir", h.stateDirectory])
            try writeAgentConfig(i)
            try startAgent(i)
            let ports = try SoftwareTPM.freePortPair()
            try inventory.addHost(MigrationHost(name: h.id, address: "127.0.0.1", portLow: ports, portHigh: ports + 1, stateDirectory: "\(rctcbDir)/hosts/\(h.id)"))
        }
        if options.vmsPerHost > 0 {
            say("starting \(options.hosts * options.vmsPerHost) guests (\(options.vmMemoryMiB) MiB each)")
            let orchestrator = MigrationOrchestrator(inventory: inventory)
            for h in hosts {
                for j in 1...options.vmsPerHost {
                    try await orchestrator.startVM(VMDescription(name: "vm-\(h.id.dropFirst(5))-\(j)", memoryMiB: options.vmMemoryMiB, bootImage: hypervisorImage), on: h.id)
                }
            }
        }
        try await waitUntil("every host trusted", seconds: 240) { try self.store().rows().allSatisfy { $0.state == .trusted } }
    }

    func writeRegionPolicy() throws {
        try RegionProcesses.writeRegionPolicy(to: regionFile, name: "loopback-demo", rctcb: "127.0.0.1",
                                              hosts: hosts.map { .init(id: $0.id, address: "127.0.0.1", port: $0.agentPort, golden: "golden.yaml") },
                                              challengeInterval: options.challengeInterval)
    }

    func writeAgentConfig(_ i: Int) throws {
        let h = hosts[i]
        let config: [String: Any] = [
            "hostId": h.id, "rctcb": url, "stateDirectory": h.stateDirectory, "tcti": h.swtpm.tcti, "listenAddress": "127.0.0.1",
            "listenPort": h.agentPort, "sources": ["process-text:pid=\(try pid(of: h.hypervisor))"],
            "measurementInterval": options.measurementInterval, "challengeInterval": options.challengeInterval,
            "challengeTimeout": 2, "push": options.push, "bootLog": "\(dir)/boot-\(h.id).bin",
        ]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: h.agentConfig))
    }

    package func startRCTCB(_ extra: [String] = []) throws {
        url = try processes.startRCTCB(region: regionFile, rctcbDir: rctcbDir, port: rctcbPort, extra: extra)
    }

    package func startAgent(_ i: Int) throws {
        try spawn("agent-\(hosts[i].id)", ["agent", "run", "--config", hosts[i].agentConfig, "--log-level", "notice"])
    }

    package func stopAgent(_ i: Int) {
        processes.stop("agent-\(hosts[i].id)")
    }

    func startHypervisor(_ id: String) async throws -> VMInstance {
        let host = MigrationHost(name: "\(id)-hypervisor", address: "127.0.0.1", portLow: 1024, portHigh: 1025, stateDirectory: "\(dir)/hypervisor/\(id)")
        return try await QEMUDriver().start(VMDescription(name: "hypervisor", memoryMiB: 16, bootImage: hypervisorImage), on: host)
    }

    /// Starts one more ticker guest on `host` (recorded in the RC-TCB's inventory).
    package func startVM(_ name: String, on host: String, memoryMiB: Int) async throws {
        try await MigrationOrchestrator(inventory: try inventory()).startVM(VMDescription(name: name, memoryMiB: memoryMiB, bootImage: hypervisorImage), on: host)
    }

    // MARK: Compromise and repair

    /// Writes into the code of `host`'s hypervisor process (the last 64 bytes of QEMU's executable mapping,
    /// through /proc/PID/mem, as an attacker with root on that host could). Returns when it was written.
    @discardableResult
    package func compromise(_ index: Int) throws -> Date {
        let pid = try pid(of: hosts[index].hypervisor)
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        guard let line = maps.split(separator: "\n").first(where: { $0.contains(" r-xp ") && $0.hasSuffix(exe) }),
              let range = line.split(separator: " ").first, let dash = range.firstIndex(of: "-"),
              let end = UInt64(range[range.index(after: dash)...], radix: 16) else {
            throw Failure(description: "no executable mapping of \(exe) in process \(pid)")
        }
        let fd = open("/proc/\(pid)/mem", O_RDWR)
        guard fd >= 0 else { throw Failure(description: "cannot open /proc/\(pid)/mem: errno \(errno)") }
        defer { close(fd) }
        let bytes = [UInt8](repeating: 0xCC, count: 64)
        let at = Date()
        guard pwrite(fd, bytes, bytes.count, off_t(end - 64)) == bytes.count else { throw Failure(description: "cannot write into process \(pid): errno \(errno)") }
        return at
    }

    /// Brings a compromised host back as a freshly booted one: a new hypervisor process, a TPM reset
    /// (orderly shutdown, then startup-clear), a new measurement log, the agent restarted. The RC-TCB sees
    /// the reset (`rebooted`) and re-attests it.
    package func repair(_ index: Int) async throws {
        stopAgent(index)
        try? await QEMUDriver().stop(hosts[index].hypervisor)
        hosts[index].hypervisor = try await startHypervisor(hosts[index].id)
        // An orderly TPM2_Shutdown(CLEAR) first, so the TPM's clock stays `safe` across the reset.
        _ = try? run(["-T", hosts[index].swtpm.tcti, "-c"], tool: "/usr/bin/tpm2_shutdown")
        hosts[index].swtpm.stop()
        try hosts[index].swtpm.start()
        try boot(hosts[index].swtpm, host: hosts[index].id)
        try? FileManager.default.removeItem(atPath: MeasurementLog.path(inStateDirectory: hosts[index].stateDirectory))
        try writeAgentConfig(index)
        try startAgent(index)
    }

    /// The "firmware" of a software TPM after a reset (``RegionProcesses/boot(tcti:host:in:)``).
    func boot(_ swtpm: SoftwareTPM, host: String) throws {
        try processes.boot(tcti: swtpm.tcti, host: host)
    }

    /// Restarts every agent with pushes on or off.
    package func setPush(_ push: Bool) throws {
        for i in hosts.indices {
            stopAgent(i)
            var c = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: hosts[i].agentConfig))) as? [String: Any]) ?? [:]
            c["push"] = push
            try JSONSerialization.data(withJSONObject: c).write(to: URL(fileURLWithPath: hosts[i].agentConfig))
            try startAgent(i)
        }
    }

    // MARK: Teardown

    /// Stops every process it started (guests, hypervisors, agents, the RC-TCB, swtpm) and removes its
    /// directory if it made it. Synchronous and signal-safe enough for a Ctrl-C handler.
    package func stop() {
        processes.stopAll()
        for path in Self.pidFiles(under: dir) {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
        }
        // A TPM whose state goes with the directory is destroyed (killed at once); one kept is stopped in order.
        for h in hosts { if ownsDirectory { h.swtpm.destroy() } else { h.swtpm.stop() } }
        if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func pidFiles(under dir: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".pid") && !$0.contains("tpm-") }.map { "\(dir)/\($0)" }
    }

    // MARK: Processes

    package func pid(of instance: VMInstance) throws -> Int32 {
        guard let text = try? String(contentsOfFile: instance.pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "no pid in \(instance.pidFile)")
        }
        return pid
    }

    /// Runs `smig-attest ARGS` (or `tool`) to completion; output through a file, never a pipe.
    @discardableResult
    func run(_ args: [String], tool: String? = nil) throws -> String { try processes.run(args, tool: tool) }

    func spawn(_ name: String, _ args: [String]) throws { try processes.spawn(name, args) }

    /// Polls `condition` every 50 ms; throws after `seconds`.
    package func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) async throws {
        try await processes.waitUntil(what, seconds: seconds, condition)
    }
}
