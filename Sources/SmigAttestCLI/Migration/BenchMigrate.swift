package import ArgumentParser
import BuiltInGuests
import Foundation
import Migration

/// `smig-attest bench migrate`: live-migration time and downtime for test guests of several
/// sizes between two loopback hosts, p50 over several runs, with QEMU's own figures beside ours.
package struct BenchMigrate: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Benchmark QEMU live migration of the test guest between two loopback hosts.",
        discussion: """
            For each size and run, the counting test guest moves from host A to host B three ways, \
            interleaved: bare QMP at QEMU's defaults, bare QMP with the evacuation parameters, and \
            smig-attest's orchestrator with the same parameters (every step committed to its inventory). \
            Reported (p50 over --runs): time from the decision to move (target launch included) to the VM \
            running on the target, QEMU's total-time and downtime, and smig-attest's ratio to tuned QMP.

            With --driver libvirt the guest is a libvirt domain defined on the libvirtd at --source-uri and \
            moved to the one at --target-uri, two ways per run with the evacuation parameters: bare `virsh \
            migrate --live --p2p --persistent --undefinesource --suspend` then `virsh resume` there, and \
            smig-attest's order path (orchestrator and inventory, order driver, the agents' order journals and \
            libvirt VM managers, in this process: no TLS hop). --target-migration-uri is the target's libvirtd \
            as the source's reaches it (`qemu+tls://host-b/system`). The ratio column is smig-attest over virsh.
            """)

    @Option(help: "Guest sizes in MiB, comma separated.") package var sizes = "64,256,512"
    @Option(help: "Runs per size.") package var runs = 5
    @Option(help: "First of 100 loopback ports to use.") package var basePort = 29800
    @Option(name: .customLong("work-dir"), help: "Scratch state directory (default: a fresh temporary one, removed after).")
    package var workDir: String?
    @Flag(name: .long, help: "Print JSON instead of a table.") package var json = false
    @Option(help: "qemu: QEMU processes over QMP on loopback; libvirt: domains of two libvirt daemons (see the URIs).")
    package var driver: Driver = .qemu
    @Option(help: "libvirt: the source host's libvirtd, as this process reaches it.") package var sourceURI: String?
    @Option(help: "libvirt: the target host's libvirtd, as this process reaches it.") package var targetURI: String?
    @Option(help: "libvirt: the target host's libvirtd, as the source's libvirtd reaches it.") package var targetMigrationURI: String?

    package enum Driver: String, CaseIterable, ExpressibleByArgument { case qemu, libvirt }

    package init() {}

    package func validate() throws {
        guard (1...50).contains(runs) else { throw ValidationError("--runs must be 1...50") }
        guard !parsedSizes.isEmpty, parsedSizes.allSatisfy({ (16...4096).contains($0) }) else {
            throw ValidationError("--sizes must be a comma separated list of MiB in 16...4096")
        }
        guard (1024...65435).contains(basePort) else { throw ValidationError("--base-port must be 1024...65435") }
        let uris = [sourceURI, targetURI, targetMigrationURI]
        switch driver {
        case .libvirt where uris.contains(nil):
            throw ValidationError("--driver libvirt needs --source-uri, --target-uri and --target-migration-uri")
        case .qemu where uris.contains { $0 != nil }:
            throw ValidationError("--source-uri, --target-uri and --target-migration-uri are for --driver libvirt")
        default: break
        }
    }

    var parsedSizes: [Int] { sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    /// How one run moves the guest.
    enum Mode: String, Codable, CaseIterable {
        /// Bare QMP (`migrate`, poll, `cont`) with QEMU's default parameters.
        case qmpDefault = "qmp-default"
        /// Bare QMP with the evacuation parameters.
        case qmpTuned = "qmp-tuned"
        /// smig-attest's orchestrator with the evacuation parameters: every step committed to the inventory,
        /// the source checked, the target resumed, the source stopped.
        case smigAttest = "smig-attest"
    }

    struct Row: Codable {
        var mode: Mode
        var memoryMiB: Int
        var runs: Int
        /// From the decision to move (target launch included) to the VM running on the target.
        var totalMsP50: Double
        var qemuTotalTimeMsP50: Double?
        var qemuDowntimeMsP50: Double?
        /// smig-attest's p50 over tuned bare QMP's, same size, same run (smig-attest rows only).
        var ratioToTunedQMP: Double?
    }

    struct Report: Codable {
        var benchmark = "migrate"
        var qemu: String
        var accel = "tcg"
        var statistic = "p50"
        var tuning: MigrationTuning
        var rows: [Row]
    }

    static func p50(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let s = values.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    struct Sample { var totalMs: Double; var qemuTotal: Double?; var downtime: Double? }

    package func run() async throws {
        let fm = FileManager.default
        let dir = workDir ?? fm.temporaryDirectory.appendingPathComponent("smig-bench-\(UUID().uuidString.prefix(8))").path
        defer { if workDir == nil { try? fm.removeItem(atPath: dir) } }
        if driver == .libvirt, let sourceURI, let targetURI, let targetMigrationURI {
            try await runLibvirt(LibvirtMigrationBench(sourceURI: sourceURI, targetURI: targetURI, targetMigrationURI: targetMigrationURI,
                                                       tuning: .evacuation, dir: dir, image: try TestGuest.writeImage(to: "\(dir)/test-guest.img")))
            return
        }
        let inventory = try VMInventory(stateDirectory: dir)
        let a = MigrationHost(name: "bench-a", address: "127.0.0.1", portLow: basePort, portHigh: basePort + 49, stateDirectory: "\(dir)/a")
        let b = MigrationHost(name: "bench-b", address: "127.0.0.1", portLow: basePort + 50, portHigh: basePort + 99, stateDirectory: "\(dir)/b")
        try inventory.addHost(a)
        try inventory.addHost(b)
        let tuning = MigrationTuning.evacuation
        let image = try TestGuest.writeImage(to: "\(dir)/test-guest.img")
        var rows: [Row] = []
        var version = "?"
        for size in parsedSizes {
            var bySize: [Mode: [Sample]] = [:]
            // Modes interleaved run by run, so a load change on the machine hits all three alike.
            for run in 1...runs {
                for mode in Mode.allCases {
                    let name = "bench-\(size)-\(run)-\(mode.rawValue)"
                    let vm = VMDescription(name: name, memoryMiB: size, bootImage: image)
                    let sample: Sample
                    switch mode {
                    case .smigAttest:
                        let orchestrator = MigrationOrchestrator(inventory: inventory, qemu: QEMUDriver(configuration: .init(tuning: tuning)))
                        _ = try await orchestrator.startVM(vm, on: a.name)
                        do {
                            try await Task.sleep(for: .milliseconds(300)) // let the guest dirty its pages
                            let report = try await orchestrator.migrate(vm: name, to: b.name)
                            sample = Sample(totalMs: report.measuredToResumeMs ?? report.measuredTotalMs, qemuTotal: report.final.totalTimeMs.map { Double($0) }, downtime: report.final.downtimeMs.map { Double($0) })
                            try await orchestrator.stopVM(name)
                        } catch {
                            _ = try? await Recovery(orchestrator: orchestrator).run()
                            try? await orchestrator.stopVM(name)
                            throw error
                        }
                    case .qmpDefault, .qmpTuned:
                        sample = try await Self.bareQMP(vm, from: a, to: b, port: basePort + 50 + run % 50, tuning: mode == .qmpTuned ? tuning : .qemuDefaults, version: &version)
                    }
                    bySize[mode, default: []].append(sample)
                }
                if !json { Output.stderr("\(size) MiB run \(run)/\(runs) done\n") }
            }
            let tunedP50 = Self.p50(bySize[.qmpTuned, default: []].map(\.totalMs))
            for mode in Mode.allCases {
                let samples = bySize[mode, default: []]
                let p = Self.p50(samples.map(\.totalMs)) ?? 0
                rows.append(Row(mode: mode, memoryMiB: size, runs: runs, totalMsP50: p,
                                qemuTotalTimeMsP50: Self.p50(samples.compactMap(\.qemuTotal)), qemuDowntimeMsP50: Self.p50(samples.compactMap(\.downtime)),
                                ratioToTunedQMP: mode == .smigAttest ? tunedP50.map { p / $0 } : nil))
            }
        }
        let output = Report(qemu: version, tuning: tuning, rows: rows)
        if json {
            print(try Output.jsonString(output))
            return
        }
        let f = { (v: Double?) in v.map { String(format: "%.1f", $0) } ?? "-" }
        print("bench migrate: QEMU \(version), TCG, loopback, p50 of \(runs) runs, ms from the decision to move (target launch included) to the VM running on the target")
        print("tuned = max-bandwidth \((tuning.maxBandwidthBytesPerSecond ?? 0) >> 20) MiB/s, downtime-limit \(tuning.downtimeLimitMs ?? 0) ms, auto-converge \(tuning.autoConverge)")
        print(Output.table(
            ["MEMORY", "MODE", "TOTAL", "TOTAL(qemu)", "DOWNTIME(qemu)", "RATIO TO TUNED QMP"],
            rows.map { ["\($0.memoryMiB) MiB", $0.mode.rawValue, f($0.totalMsP50), f($0.qemuTotalTimeMsP50), f($0.qemuDowntimeMsP50),
                        $0.ratioToTunedQMP.map { String(format: "%.2fx", $0) } ?? ""] }))
    }

    func runLibvirt(_ bench: LibvirtMigrationBench) async throws {
        let output = try await bench.run(sizes: parsedSizes, runs: runs) { if !json { Output.stderr($0) } }
        if json {
            print(try Output.jsonString(output))
            return
        }
        let f = { (v: Double?) in v.map { String(format: "%.1f", $0) } ?? "-" }
        let tuning = output.tuning
        print("bench migrate --driver libvirt: libvirt \(output.libvirt), p50 of \(runs) runs, ms from the decision to move to the VM running on the target")
        print("tuning = bandwidth \((tuning.maxBandwidthBytesPerSecond ?? 0) >> 20) MiB/s, max downtime \(tuning.downtimeLimitMs ?? 0) ms, auto-converge \(tuning.autoConverge)")
        print(Output.table(
            ["MEMORY", "MODE", "TOTAL", "TOTAL(libvirt)", "DOWNTIME(libvirt)", "RATIO TO VIRSH"],
            output.rows.map { ["\($0.memoryMiB) MiB", $0.mode.rawValue, f($0.totalMsP50), f($0.libvirtTotalTimeMsP50), f($0.libvirtDowntimeMsP50),
                               $0.ratioToVirsh.map { String(format: "%.2fx", $0) } ?? ""] }))
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
        let elapsed = clock.now - started
        let total = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        try await driver.stop(target)
        try await driver.stop(source)
        return Sample(totalMs: total, qemuTotal: info["total-time"]?.uint64.map { Double($0) }, downtime: info["downtime"]?.uint64.map { Double($0) })
    }
}
