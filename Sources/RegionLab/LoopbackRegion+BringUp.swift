import ChildProcesses
import RegionTCB
package import Foundation
import BuiltInGuests
import Swtpm
package import Migration

/// Bringing a loopback region up: hosts, policy and RC-TCB directories, then the RC-TCBs, then the agents.
extension LoopbackRegion {
    /// Brings the whole region up with one RC-TCB, starts `vmsPerHost` guests on every host and waits until every
    /// host is `trusted` (``Store/sqlite``).
    package func start() async throws {
        try await prepare()
        say("starting the RC-TCB")
        try startRCTCB(0)
        let inventory = try inventory()
        say("enrolling \(options.hosts) hosts (EK certificate chain, MakeCredential/ActivateCredential) and starting their agents")
        try enrolAndStartAgents(via: 0)
        try addVMHosts()
        if options.vmsPerHost > 0 {
            say("starting \(options.hosts * options.vmsPerHost) guests (\(options.vmMemoryMiB) MiB each)")
            let orchestrator = MigrationOrchestrator(inventory: inventory)
            for h in hosts {
                for j in 1...options.vmsPerHost {
                    try await orchestrator.startVM(VMDescription(name: "vm-\(h.id.dropFirst(5))-\(j)", memoryMiB: options.vmMemoryMiB, bootImage: try guestImage()), on: h.id)
                }
            }
        }
        try await waitUntil("every host trusted", seconds: 240) { try self.store().rows().allSatisfy { $0.state == .trusted } }
    }

    /// Everything before the first RC-TCB runs: per host a started swtpm, `tpm provision`, its hypervisor and golden
    /// values; the region policy; `rctcb init` (trusting every swtpm's local CA) and the other RC-TCBs' copies of
    /// its directory. `hostKeys(id, stateDirectory)`: more keys of a host's policy entry (e.g. ", boot-log: optional"),
    /// asked once the host's TPM is provisioned.
    package func prepare(hostKeys: (String, String) throws -> String = { _, _ in "" }) async throws {
        guard SoftwareTPM.isAvailable else { throw Failure(description: "swtpm, swtpm_setup and swtpm_localca are needed (apt-get install swtpm swtpm-tools); never skipped") }
        var caFiles: [String] = []
        var extras: [String] = []
        rctcbPorts = try (0..<options.rctcbs).map { _ in try freePortPair() }
        say("starting \(options.hosts) software TPMs and hypervisors")
        for i in 1...options.hosts {
            var host = try await startHostTPM(i)
            if options.hypervisor == .qemu { try processes.boot(tcti: host.tcti, host: host.id, in: host.enter) }
            try processes.run(["tpm", "provision", "--tcti", host.tcti, "--state-dir", host.stateDirectory], in: host.enter)
            let ca = host.swtpm.root.appendingPathComponent("localca")
            caFiles += [ca.appendingPathComponent("swtpm-localca-rootca-cert.pem").path, ca.appendingPathComponent("issuercert.pem").path]
            switch options.hypervisor {
            case .qemu: host.hypervisorProcess = try await startHypervisor(host.id)
            case .file:
                host.hypervisorFile = "\(dir)/hypervisor-\(i).bin"
                try Data("good hypervisor \(i)".utf8).write(to: URL(fileURLWithPath: "\(dir)/hypervisor-\(i).bin"))
            }
            extras.append(try hostKeys(host.id, host.stateDirectory))
            hosts.append(host)
        }
        try writeGoldenValues()
        try RegionProcesses.writeRegionPolicy(to: regionFile, name: options.regionName, rctcb: "127.0.0.1", rctcbPort: rctcbPorts[0],
                                              hosts: hosts.indices.map { .init(id: hosts[$0].id, address: policyAddress($0), port: hosts[$0].agentPort,
                                                                               golden: golden($0), extra: extras[$0]) },
                                              challengeInterval: options.challengeInterval, quoteFreshness: options.quoteFreshness, tail: options.policyTail)
        say("creating the region CA and the IVT")
        // The RC-TCB's certificate names every address agents reach it at (a namespaced host: the root side of its veth).
        let names = ["127.0.0.1", "localhost"] + (options.namespace.map { [$0.rootAddress] } ?? [])
        try run(["rctcb", "init", "--region", regionFile, "--dir", rctcbDir(0)] + names.flatMap { ["--server-name", $0] }
                + (caFiles + options.extraEKCAs).flatMap { ["--ek-ca", $0] })
        for i in 1..<options.rctcbs {
            try run(["-a", rctcbDir(0), rctcbDir(i)], tool: "/bin/cp")
        }
    }

    /// Host `i`'s swtpm, started on loopback or, for the last host of a region with a ``Namespace``, inside it.
    func startHostTPM(_ i: Int) async throws -> Host {
        let swtpm = try SoftwareTPM(root: URL(fileURLWithPath: "\(dir)/tpm-\(i)"))
        var enter: [String] = []
        let tcti: String
        if let namespace = options.namespace, i == options.hosts {
            guard let path = Executables.which("swtpm") else { throw Failure(description: "swtpm is needed; never skipped") }
            enter = namespace.enter
            tcti = try await processes.startSwtpm(swtpm, path: path, in: enter, pidFile: "\(dir)/namespaced-host-\(i).pid")
        } else {
            try swtpm.start()
            tcti = swtpm.tcti
        }
        return Host(id: "host-\(i)", swtpm: swtpm, tcti: tcti, enter: enter, stateDirectory: "\(dir)/state-\(i)", agentPort: try freePortPair(),
                    agentConfig: "\(dir)/agent-\(i).json")
    }

    /// Host `index`'s address in the policy: its namespace's, or (with a namespaced host) the root side of the veth.
    func policyAddress(_ index: Int) -> String {
        guard let namespace = options.namespace else { return "127.0.0.1" }
        return hosts[index].enter.isEmpty ? namespace.rootAddress : namespace.hostAddress
    }

    /// The golden values of host `index`'s hypervisor, relative to the policy.
    func golden(_ index: Int) -> String { options.hypervisor == .qemu ? "golden.yaml" : "golden-\(index + 1).yaml" }

    func writeGoldenValues() throws {
        switch options.hypervisor {
        case .qemu:
            // One golden file: every host runs the same QEMU build, so its code measures the same everywhere.
            let golden = try run(["golden", "capture", "--source", "process-text:pid=\(try hypervisorPID(0))", "--name", "qemu-hypervisor"])
            try Data(golden.utf8).write(to: URL(fileURLWithPath: "\(dir)/golden.yaml"))
        case .file:
            for i in hosts.indices {
                let golden = try run(["golden", "capture", "--source", "file:\(hosts[i].hypervisorFile ?? "")"])
                try Data(golden.utf8).write(to: URL(fileURLWithPath: "\(dir)/\(self.golden(i))"))
            }
        }
    }

    /// The measurement source of host `index`'s agent.
    func source(_ index: Int) throws -> String {
        switch options.hypervisor {
        case .qemu: "process-text:pid=\(try hypervisorPID(index))"
        case .file: "file:\(hosts[index].hypervisorFile ?? "")"
        }
    }

    /// Starts RC-TCB `i` on its fixed port with the region's store (`executable`: another build of the RC-TCB, e.g.
    /// a test tool, with its leading arguments; `port`: another RC-TCB's port, taking its place).
    package func startRCTCB(_ i: Int, _ extra: [String] = [], executable: [String] = [], port: Int? = nil) throws {
        var store: [String] = []
        if case .postgresql(let url) = options.store { store = ["--store", url] }
        // A namespaced host reaches the RC-TCB over its veth.
        if options.namespace != nil { store += ["--listen", "0.0.0.0"] }
        url = try processes.startRCTCB(Self.rctcbName(i), region: regionFile, rctcbDir: rctcbDir(i), port: port ?? rctcbPorts[i],
                                       extra: store + options.serveExtra + extra, executable: executable)
    }

    /// Stops RC-TCB `i` (`signal`, SIGTERM by default; SIGKILL after 5 s).
    package func stopRCTCB(_ i: Int, signal: Int32 = SIGTERM) { processes.stop(Self.rctcbName(i), signal: signal) }

    /// RC-TCB `i`'s process as started last (nil once stopped), and all it wrote.
    package func rctcbProcess(_ i: Int) -> Process? { processes.process(Self.rctcbName(i)) }
    package func rctcbOutput(_ i: Int) -> String { processes.output(Self.rctcbName(i)) }

    static func rctcbName(_ i: Int) -> String { i == 0 ? "rctcb" : "rctcb-\(i + 1)" }

    /// Enrols every host through RC-TCB `via` (`agent enrol`) and starts its agent with `rctcb` (default: that RC-TCB's
    /// URL; a comma-separated list for several RC-TCBs) as its RC-TCB in agent.json. A namespaced host enrols with
    /// and reports to that RC-TCB at the root side of its veth. `agentKeys(i)`: more keys of host i's agent.json.
    package func enrolAndStartAgents(via: Int, rctcb: String? = nil, agentKeys: (Int) -> [String: Any] = { _ in [:] }) throws {
        for i in hosts.indices {
            let h = hosts[i]
            let namespaced = options.namespace.flatMap { h.enter.isEmpty ? nil : "https://\($0.rootAddress):\(rctcbPorts[via])" }
            try processes.run(["agent", "enrol", "--rctcb", namespaced ?? urls[via], "--ca", "\(rctcbDir(via))/region-ca.pem", "--host-id", h.id,
                               "--tcti", h.tcti, "--state-dir", h.stateDirectory], in: h.enter)
            try writeAgentConfig(i, rctcb: namespaced ?? rctcb ?? urls[via], extra: agentKeys(i))
            try startAgent(i)
        }
    }

    /// The address host `i`'s agent listens on: loopback, or with a namespaced host every address (its own, inside).
    func listenAddress(_ i: Int) -> String {
        guard let namespace = options.namespace else { return "127.0.0.1" }
        return hosts[i].enter.isEmpty ? "0.0.0.0" : namespace.hostAddress
    }

    func writeAgentConfig(_ i: Int, rctcb: String, extra: [String: Any] = [:]) throws {
        let h = hosts[i]
        var config: [String: Any] = [
            "hostId": h.id, "rctcb": rctcb, "stateDirectory": h.stateDirectory, "tcti": h.tcti, "listenAddress": listenAddress(i),
            "listenPort": h.agentPort, "sources": [try source(i)], "measurementInterval": options.measurementInterval,
            "challengeInterval": options.challengeInterval, "challengeTimeout": 2, "push": options.push,
        ]
        if options.hypervisor == .qemu { config["bootLog"] = "\(dir)/boot-\(h.id).bin" }
        config.merge(extra) { _, extra in extra }
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: h.agentConfig))
    }

    package func startAgent(_ i: Int) throws {
        try processes.spawn("agent-\(hosts[i].id)", ["agent", "run", "--config", hosts[i].agentConfig, "--log-level", "notice"], in: hosts[i].enter)
    }

    /// Stops host `i`'s agent (`signal`, SIGTERM by default; SIGKILL after 5 s).
    package func stopAgent(_ i: Int, signal: Int32 = SIGTERM) {
        processes.stop("agent-\(hosts[i].id)", signal: signal)
    }

    /// What host `id`'s agent wrote, over all its runs (for a test's failure message).
    package func agentOutput(_ id: String) -> String { processes.output("agent-\(id)") }

    /// Declares every host in the inventory, a loopback port pair each for incoming migrations.
    package func addVMHosts() throws {
        let inventory = try inventory()
        for h in try vmHosts() { try inventory.addHost(h) }
    }

    /// Declares every host in `inventory` (a region whose inventory is in its store, not the first RC-TCB's file).
    package func addVMHosts(to inventory: any VMInventoryStore) async throws {
        for h in try vmHosts() { try await inventory.addHost(h) }
    }

    /// The region's hosts as the inventory records them: a fresh loopback port pair each for incoming migrations.
    func vmHosts() throws -> [MigrationHost] {
        try hosts.map { h in
            let ports = try freePortPair()
            return MigrationHost(name: h.id, address: "127.0.0.1", portLow: ports, portHigh: ports + 1, stateDirectory: "\(rctcbDir)/hosts/\(h.id)")
        }
    }

    /// The ticker guest's image, written once.
    func guestImage() throws -> String {
        if hypervisorImage.isEmpty { hypervisorImage = try TestGuest.writeImage(to: "\(dir)/images/ticker-guest.img", kind: .ticker) }
        return hypervisorImage
    }

    func startHypervisor(_ id: String) async throws -> VMInstance {
        let host = MigrationHost(name: "\(id)-hypervisor", address: "127.0.0.1", portLow: 1024, portHigh: 1025, stateDirectory: "\(dir)/hypervisor/\(id)")
        return try await QEMUDriver().start(VMDescription(name: "hypervisor", memoryMiB: 16, bootImage: try guestImage()), on: host)
    }

    /// Starts one more ticker guest on `host` (`memoryMiB`, by default the options' `vmMemoryMiB`), recorded in
    /// `inventory` (by default the first RC-TCB's file).
    package func startVM(_ name: String, on host: String, memoryMiB: Int? = nil, inventory: (any VMInventoryStore)? = nil) async throws {
        let description = VMDescription(name: name, memoryMiB: memoryMiB ?? options.vmMemoryMiB, bootImage: try guestImage())
        try await MigrationOrchestrator(inventory: try inventory ?? self.inventory()).startVM(description, on: host)
    }

    /// The hosts on which `vm` has a QEMU process, with its run state (the hosts as `inventory` records them).
    package func copies(of vm: String, inventory: (any VMInventoryStore)? = nil) async throws -> [String: VMRunState] {
        await QEMUDriver().copies(of: vm, on: try await (inventory ?? self.inventory()).hosts())
    }
}
