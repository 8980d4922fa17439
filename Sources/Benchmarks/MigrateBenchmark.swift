import Agent
import BuiltInGuests
import DurationUnits
import Foundation
import Logging
package import Migration
import RegionTCB

/// `bench migrate`: live-migration time and downtime of the counting test guest between two loopback hosts, for
/// several guest sizes, p50 over several runs, four ways interleaved: bare QMP at QEMU's defaults, bare QMP with
/// the evacuation parameters, smig-attest's orchestrator with the same parameters, and the same orchestrator giving
/// migration orders to two agents' QEMU VM managers.
package enum MigrateBenchmark {
    /// How one run moves the guest.
    package enum Mode: String, Codable, CaseIterable, Sendable {
        /// Bare QMP (`migrate`, poll, `cont`) with QEMU's default parameters.
        case qmpDefault = "qmp-default"
        /// Bare QMP with the evacuation parameters.
        case qmpTuned = "qmp-tuned"
        /// smig-attest's orchestrator with the evacuation parameters: every step committed to the inventory,
        /// the source checked, the target resumed, the source stopped.
        case smigAttest = "smig-attest"
        /// smig-attest's order path with the evacuation parameters: the orchestrator (every step committed to the
        /// inventory) and the order driver, with two agents' order books (each order journaled) and QEMU VM managers
        /// in this process (no TLS hop): the target's agent launches the receiving QEMU, the source's sends the state.
        case smigAttestOrders = "smig-attest-orders"
    }

    package struct Row: Codable, Sendable {
        package var mode: Mode
        package var memoryMiB: Int
        package var runs: Int
        /// From the decision to move (target launch included) to the VM running on the target.
        package var totalMsP50: Double
        package var qemuTotalTimeMsP50: Double?
        package var qemuDowntimeMsP50: Double?
        /// smig-attest's p50 over tuned bare QMP's, same size, same run (smig-attest rows only, both paths).
        package var ratioToTunedQMP: Double?
    }

    package struct Report: Codable, Sendable {
        package var benchmark = "migrate"
        package var qemu: String
        package var accel = "tcg"
        package var statistic = "p50"
        package var tuning: MigrationTuning
        package var rows: [Row]
    }

    package static func p50(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    struct Sample { var totalMs: Double; var qemuTotal: Double?; var downtime: Double? }

    /// Every size `runs` times, the three modes interleaved run by run, in `workDirectory` (nil: a fresh temporary
    /// one, removed after), on ports `basePort`…`basePort + 99`. `progress` hears one line per finished run.
    package static func run(sizes: [Int], runs: Int, basePort: Int, workDirectory: String?,
                            progress: (String) -> Void) async throws -> Report {
        let fm = FileManager.default
        let dir = workDirectory ?? fm.temporaryDirectory.appendingPathComponent("smig-bench-\(UUID().uuidString.prefix(8))").path
        defer { if workDirectory == nil { try? fm.removeItem(atPath: dir) } }
        let inventory = try VMInventory(stateDirectory: dir)
        let a = MigrationHost(name: "bench-a", address: "127.0.0.1", portLow: basePort, portHigh: basePort + 49, stateDirectory: "\(dir)/a")
        let b = MigrationHost(name: "bench-b", address: "127.0.0.1", portLow: basePort + 50, portHigh: basePort + 99, stateDirectory: "\(dir)/b")
        try inventory.addHost(a)
        try inventory.addHost(b)
        let tuning = MigrationTuning.evacuation
        let image = try TestGuest.writeImage(to: "\(dir)/test-guest.img")
        let orders = try await OrderPath(dir: dir, inventory: inventory, a: a, b: b, tuning: tuning)
        var rows: [Row] = []
        var version = "?"
        for size in sizes {
            var bySize: [Mode: [Sample]] = [:]
            // Modes interleaved run by run, so a load change on the machine hits all three alike.
            for run in 1...runs {
                for mode in Mode.allCases {
                    let vm = VMDescription(name: "bench-\(size)-\(run)-\(mode.rawValue)", memoryMiB: size, bootImage: image)
                    let sample: Sample
                    switch mode {
                    case .smigAttest:
                        sample = try await orchestrated(vm, inventory: inventory, from: a, to: b, tuning: tuning)
                    case .smigAttestOrders:
                        sample = try await orders.move(vm)
                    case .qmpDefault, .qmpTuned:
                        sample = try await bareQMP(vm, from: a, to: b, port: basePort + 50 + run % 50, tuning: mode == .qmpTuned ? tuning : .qemuDefaults, version: &version)
                    }
                    bySize[mode, default: []].append(sample)
                }
                progress("\(size) MiB run \(run)/\(runs) done")
            }
            let tunedP50 = p50(bySize[.qmpTuned, default: []].map(\.totalMs))
            for mode in Mode.allCases {
                let samples = bySize[mode, default: []]
                let p = p50(samples.map(\.totalMs)) ?? 0
                rows.append(Row(mode: mode, memoryMiB: size, runs: runs, totalMsP50: p,
                                qemuTotalTimeMsP50: p50(samples.compactMap(\.qemuTotal)), qemuDowntimeMsP50: p50(samples.compactMap(\.downtime)),
                                ratioToTunedQMP: [.smigAttest, .smigAttestOrders].contains(mode) ? tunedP50.map { p / $0 } : nil))
            }
        }
        return Report(qemu: version, tuning: tuning, rows: rows)
    }

    /// smig-attest's orchestrator: start the guest on `a`, let it dirty its pages, migrate it to `b`, stop it.
    static func orchestrated(_ vm: VMDescription, inventory: VMInventory, from a: MigrationHost, to b: MigrationHost,
                             tuning: MigrationTuning) async throws -> Sample {
        let orchestrator = MigrationOrchestrator(inventory: inventory, qemu: QEMUDriver(configuration: .init(tuning: tuning)))
        _ = try await orchestrator.startVM(vm, on: a.name)
        do {
            try await Task.sleep(for: .milliseconds(300)) // let the guest dirty its pages
            let report = try await orchestrator.migrate(vm: vm.name, to: b.name)
            try await orchestrator.stopVM(vm.name)
            return Sample(totalMs: report.measuredToResumeMs ?? report.measuredTotalMs, qemuTotal: report.final.totalTimeMs.map { Double($0) },
                          downtime: report.final.downtimeMs.map { Double($0) })
        } catch {
            _ = try? await Recovery(orchestrator: orchestrator).run()
            try? await orchestrator.stopVM(vm.name)
            throw error
        }
    }

    /// The baseline: launch both sides with the same driver, then nothing but QMP `migrate`, `query-migrate`
    /// polling and `cont` on the target.
    static func bareQMP(_ vm: VMDescription, from a: MigrationHost, to b: MigrationHost, port: Int, tuning: MigrationTuning, version: inout String) async throws -> Sample {
        let driver = QEMUDriver()
        let source = try await driver.start(vm, on: a)
        defer { Task { try? await driver.stop(source) } }
        try await Task.sleep(for: .milliseconds(300))
        let clock = ContinuousClock()
        let started = clock.now
        let target = try await driver.prepareTarget(vm, on: b, port: port)
        defer { Task { try? await driver.stop(target) } }
        let qmp = try await QMPClient.connect(path: source.controlPath)
        defer { qmp.close() }
        if version == "?" { version = qmp.qemuVersion }
        let caps = tuning.qmpCapabilities
        if !caps.isEmpty { try await qmp.execute("migrate-set-capabilities", ["capabilities": .array(caps)]) }
        if !tuning.qmpParameters.isEmpty { try await qmp.execute("migrate-set-parameters", tuning.qmpParameters) }
        try await qmp.execute("migrate", ["uri": .string("tcp:127.0.0.1:\(port)")])
        var info: JSONValue
        repeat {
            info = try await qmp.execute("query-migrate")
            if info["status"]?.string == "failed" { throw MigrationError(.migrationFailed, "bare QMP migration failed") }
            if info["status"]?.string != "completed" { try await Task.sleep(for: .milliseconds(10)) }
        } while info["status"]?.string != "completed"
        let t = try await QMPClient.connect(path: target.controlPath)
        try await t.execute("cont")
        t.close()
        let total = (clock.now - started).inMilliseconds
        try await driver.stop(target)
        try await driver.stop(source)
        return Sample(totalMs: total, qemuTotal: info["total-time"]?.uint64.map { Double($0) }, downtime: info["downtime"]?.uint64.map { Double($0) })
    }

    /// The order path on this machine: hosts A and B as two agents' QEMU VM managers over their own VM directories
    /// (`A/orders-vms`, `B/orders-vms`; incoming ports of A's and B's ranges), their order books, the order driver
    /// with the tuning, and an orchestrator over agent hosts `bench-oa` and `bench-ob` in the same inventory.
    struct OrderPath {
        let inventory: VMInventory
        let orchestrator: MigrationOrchestrator
        let a: MigrationHost
        let b: MigrationHost

        init(dir: String, inventory: VMInventory, a: MigrationHost, b: MigrationHost, tuning: MigrationTuning) async throws {
            self.inventory = inventory
            self.a = MigrationHost(name: "bench-oa", address: a.address, portLow: a.portLow, portHigh: a.portHigh, stateDirectory: "\(a.stateDirectory)/orders-vms")
            self.b = MigrationHost(name: "bench-ob", address: b.address, portLow: b.portLow, portHigh: b.portHigh, stateDirectory: "\(b.stateDirectory)/orders-vms")
            var agents: [String: (book: OrderBook, manager: any HostVMManager)] = [:]
            for host in [self.a, self.b] {
                try inventory.addHost(MigrationHost(name: host.name, kind: .agent, address: host.address, portLow: 1024, portHigh: 1025,
                                                    stateDirectory: "\(dir)/\(host.name)"))
                let manager = QEMUVMManager(directory: host.stateDirectory, imageDirectory: dir, incoming: .init(address: host.address, ports: host.ports))
                agents["in-process:\(host.name)"] = (try await OrderBook(hostId: host.name, stateDirectory: "\(dir)/\(host.name)", manager: manager), manager)
            }
            let driver = AgentOrderDriver(client: InProcessOrderTransport(agents: agents), agents: ["bench-oa": "in-process:bench-oa", "bench-ob": "in-process:bench-ob"],
                                          inventory: inventory, prefix: try AgentOrderDriver.orderPrefix(directory: dir), tuning: AgentOrderDriver.tuning(tuning),
                                          pollInterval: .milliseconds(10))
            var quiet = Logger(label: "smig.bench")
            quiet.logLevel = .warning  // one line per completed move would cut through the progress lines
            orchestrator = MigrationOrchestrator(inventory: inventory, agent: driver, logger: quiet)
        }

        /// Starts `vm` in A's VM directory (as `vm start` does: not by the agent), lets it dirty its pages, adopts it and
        /// moves it to B by orders; then stops it there.
        func move(_ vm: VMDescription) async throws -> Sample {
            let qemu = QEMUDriver()
            _ = try await qemu.start(vm, on: a)
            do {
                try await Task.sleep(for: .milliseconds(300))
                try inventory.addVM(VMDescription(name: vm.name, machineType: "qemu", memoryMiB: vm.memoryMiB, cpus: vm.cpus, bootImage: "/"), host: a.name, state: .running)
                let report = try await orchestrator.migrate(vm: vm.name, to: b.name)
                try await qemu.stop(qemu.instance(of: vm.name, on: b))
                try inventory.removeVM(vm.name)
                return Sample(totalMs: report.measuredToResumeMs ?? report.measuredTotalMs, qemuTotal: report.final.totalTimeMs.map { Double($0) },
                              downtime: report.final.downtimeMs.map { Double($0) })
            } catch {
                for host in [a, b] { try? await qemu.stop(qemu.instance(of: vm.name, on: host)) }
                throw error
            }
        }
    }
}
