import Agent
import Benchmarks
import BuiltInGuests
import Foundation
import Logging
import Migration
import RegionProtocol
import RegionTCB
import DurationUnits

/// `bench migrate --driver libvirt`: the test guest, defined as a libvirt domain on the source host, moves to the
/// target host two ways per run, interleaved and with the same tuning: bare `virsh migrate` (live, peer to peer,
/// destination paused, then `virsh resume` there) and smig-attest's order path (the orchestrator with its inventory
/// journal, the order driver, and the agents' order books with their libvirt VM managers, in this process: no TLS
/// hop). The timer runs from the decision to move to the VM running on the target.
struct LibvirtMigrationBench {
    let sourceURI: String
    let targetURI: String
    let targetMigrationURI: String
    let tuning: MigrationTuning
    let dir: String
    let image: String

    enum Mode: String, Codable, CaseIterable {
        /// `virsh migrate-setmaxdowntime`, `virsh migrate --live --p2p --persistent --undefinesource --suspend` with the
        /// tuning's `--bandwidth`, `--auto-converge`, `--parallel-connections`, then `virsh resume` on the target.
        case virsh
        /// Orders through the agents' order books (journaled) to their libvirt VM managers, every step committed to the
        /// inventory: prepare, migrate (followed to its end), resume, stop.
        case smigAttest = "smig-attest"
    }

    struct Row: Codable {
        var mode: Mode
        var memoryMiB: Int
        var runs: Int
        var totalMsP50: Double
        /// libvirt's figures for the completed job (time elapsed, downtime).
        var libvirtTotalTimeMsP50: Double?
        var libvirtDowntimeMsP50: Double?
        /// smig-attest's p50 over bare virsh's, same size, same run (smig-attest rows only).
        var ratioToVirsh: Double?
    }

    struct Report: Codable {
        var benchmark = "migrate"
        var driver = "libvirt"
        var libvirt: String
        var statistic = "p50"
        var tuning: MigrationTuning
        var rows: [Row]
    }

    func run(sizes: [Int], runs: Int, progress: (String) -> Void) async throws -> Report {
        let inventory = try VMInventory(stateDirectory: dir)
        for name in ["bench-a", "bench-b"] {
            try inventory.addHost(MigrationHost(name: name, kind: .agent, address: "127.0.0.1", portLow: 1024, portHigh: 1025, stateDirectory: "\(dir)/\(name)"))
        }
        let managerA = LibvirtVMManager(uri: sourceURI, incomingAddress: sourceURI)
        let managerB = LibvirtVMManager(uri: targetURI, incomingAddress: targetMigrationURI)
        let transport = InProcessOrderTransport(agents: [
            "in-process:bench-a": (try await OrderBook(hostId: "bench-a", stateDirectory: "\(dir)/bench-a", manager: managerA), managerA),
            "in-process:bench-b": (try await OrderBook(hostId: "bench-b", stateDirectory: "\(dir)/bench-b", manager: managerB), managerB),
        ])
        let driver = AgentOrderDriver(client: transport, agents: ["bench-a": "in-process:bench-a", "bench-b": "in-process:bench-b"], inventory: inventory,
                                      prefix: try AgentOrderDriver.orderPrefix(directory: dir), tuning: AgentOrderDriver.tuning(tuning),
                                      pollInterval: .milliseconds(10))
        var quiet = Logger(label: "smig.bench")
        quiet.logLevel = .warning  // one line per completed move would cut through the table's progress lines
        let orchestrator = MigrationOrchestrator(inventory: inventory, agent: driver, logger: quiet)
        let version = (try? await virsh(["--version"]).trimmingCharacters(in: .whitespacesAndNewlines)) ?? "?"

        var rows: [Row] = []
        for size in sizes {
            var bySize: [Mode: [Sample]] = [:]
            for run in 1...runs {
                for mode in Mode.allCases {
                    let name = "bench-\(size)-\(run)-\(mode.rawValue)"
                    try await define(name, memoryMiB: size)
                    do {
                        try await Task.sleep(for: .milliseconds(300))  // let the guest dirty its pages
                        let sample: Sample
                        switch mode {
                        case .virsh: sample = try await bareVirsh(name)
                        case .smigAttest:
                            try inventory.addVM(VMDescription(name: name, machineType: "libvirt", memoryMiB: size, cpus: 1, bootImage: "/"), host: "bench-a", state: .running)
                            let report = try await orchestrator.migrate(vm: name, to: "bench-b")
                            try inventory.removeVM(name)
                            let job = await completedJob(name)
                            sample = Sample(totalMs: report.measuredToResumeMs ?? report.measuredTotalMs, libvirtTotal: job.total, downtime: job.downtime)
                        }
                        bySize[mode, default: []].append(sample)
                    } catch {
                        await remove(name)
                        throw error
                    }
                    await remove(name)
                }
                progress("\(size) MiB run \(run)/\(runs) done\n")
            }
            let virshP50 = MigrateBenchmark.p50(bySize[.virsh, default: []].map(\.totalMs))
            for mode in Mode.allCases {
                let samples = bySize[mode, default: []]
                let p = MigrateBenchmark.p50(samples.map(\.totalMs)) ?? 0
                rows.append(Row(mode: mode, memoryMiB: size, runs: runs, totalMsP50: p,
                                libvirtTotalTimeMsP50: MigrateBenchmark.p50(samples.compactMap(\.libvirtTotal)),
                                libvirtDowntimeMsP50: MigrateBenchmark.p50(samples.compactMap(\.downtime)),
                                ratioToVirsh: mode == .smigAttest ? virshP50.map { p / $0 } : nil))
            }
        }
        return Report(libvirt: version, tuning: tuning, rows: rows)
    }

    struct Sample { var totalMs: Double; var libvirtTotal: Double?; var downtime: Double? }

    /// The baseline: what an operator types, with the same tuning.
    func bareVirsh(_ name: String) async throws -> Sample {
        var flags = ["--live", "--p2p", "--persistent", "--undefinesource", "--suspend"]
        if let bandwidth = tuning.maxBandwidthBytesPerSecond { flags += ["--bandwidth", "\(max(1, bandwidth >> 20))"] }
        if tuning.autoConverge { flags.append("--auto-converge") }
        if tuning.multifdChannels > 0 { flags += ["--parallel", "--parallel-connections", "\(tuning.multifdChannels)"] }
        let clock = ContinuousClock()
        let started = clock.now
        if let downtime = tuning.downtimeLimitMs { try await virsh(["-c", sourceURI, "migrate-setmaxdowntime", name, "\(downtime)"]) }
        try await virsh(["-c", sourceURI, "migrate"] + flags + [name, targetMigrationURI])
        try await virsh(["-c", targetURI, "resume", name])
        let elapsed = clock.now - started
        let job = await completedJob(name)
        return Sample(totalMs: elapsed.inMilliseconds,
                      libvirtTotal: job.total, downtime: job.downtime)
    }

    /// libvirt's figures for the completed incoming migration of `name`, as the target keeps them (both ways alike).
    func completedJob(_ name: String) async -> (total: Double?, downtime: Double?) {
        let job = (try? await virsh(["-c", targetURI, "domjobinfo", name, "--completed"])) ?? ""
        return (Self.field("Time elapsed", in: job), Self.field("Total downtime", in: job))
    }

    /// A number of milliseconds from `virsh domjobinfo`'s `NAME: VALUE ms` lines.
    static func field(_ name: String, in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
            return Double(line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "")
        }
        return nil
    }

    /// Defines and starts the test guest as domain `name` on the source host.
    func define(_ name: String, memoryMiB: Int) async throws {
        let xml = """
            <domain type='qemu'>
              <name>\(name)</name>
              <memory unit='MiB'>\(memoryMiB)</memory>
              <vcpu>1</vcpu>
              <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='fd'/></os>
              <devices>
                <disk type='file' device='floppy'>
                  <driver name='qemu' type='raw'/><source file='\(image)'/><target dev='fda' bus='fdc'/><readonly/>
                </disk>
                <controller type='usb' model='none'/>
                <video><model type='none'/></video>
                <memballoon model='none'/>
              </devices>
            </domain>
            """
        let file = "\(dir)/\(name).xml"
        try Data(xml.utf8).write(to: URL(fileURLWithPath: file))
        try await virsh(["-c", sourceURI, "define", file])
        try await virsh(["-c", sourceURI, "start", name])
    }

    /// Destroys and undefines domain `name` wherever it is.
    func remove(_ name: String) async {
        for uri in [sourceURI, targetURI] {
            _ = try? await virsh(["-c", uri, "destroy", name])
            _ = try? await virsh(["-c", uri, "undefine", name])
        }
    }

    @discardableResult
    func virsh(_ args: [String]) async throws -> String {
        let out = try await SystemCommandRunner(timeout: .seconds(300)).run(["/usr/bin/virsh"] + args)
        guard out.status == 0 else {
            throw MigrationError(.migrationFailed, "virsh \(args.joined(separator: " ")) failed (\(out.status)): \(out.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        return out.stdout
    }
}
