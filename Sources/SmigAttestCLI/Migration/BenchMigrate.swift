package import ArgumentParser
import Benchmarks
import BuiltInGuests
import Foundation
import Migration

/// `smig-attest bench migrate`: live-migration time and downtime for test guests of several
/// sizes between two loopback hosts, p50 over several runs, with QEMU's own figures beside ours
/// (``MigrateBenchmark`` in the Benchmarks target measures; this parses the options and prints).
package struct BenchMigrate: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Benchmark QEMU live migration of the test guest between two loopback hosts.",
        discussion: """
            For each size and run, the counting test guest moves from host A to host B four ways, \
            interleaved: bare QMP at QEMU's defaults, bare QMP with the evacuation parameters, \
            smig-attest's orchestrator with the same parameters (every step committed to its inventory), and \
            smig-attest's order path (smig-attest-orders: the orchestrator's orders to two agents' order \
            journals and QEMU VM managers, in this process: no TLS hop). Reported (p50 over --runs): time \
            from the decision to move (target launch included) to the VM running on the target, QEMU's \
            total-time and downtime, and smig-attest's ratio to tuned QMP.

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

    package func run() async throws {
        if driver == .libvirt, let sourceURI, let targetURI, let targetMigrationURI {
            let fm = FileManager.default
            let dir = workDir ?? fm.temporaryDirectory.appendingPathComponent("smig-bench-\(UUID().uuidString.prefix(8))").path
            defer { if workDir == nil { try? fm.removeItem(atPath: dir) } }
            try await runLibvirt(LibvirtMigrationBench(sourceURI: sourceURI, targetURI: targetURI, targetMigrationURI: targetMigrationURI,
                                                       tuning: .evacuation, dir: dir, image: try TestGuest.writeImage(to: "\(dir)/test-guest.img")))
            return
        }
        let quiet = json
        let report = try await MigrateBenchmark.run(sizes: parsedSizes, runs: runs, basePort: basePort, workDirectory: workDir) { line in
            if !quiet { Output.stderr(line + "\n") }
        }
        if json {
            print(try Output.jsonString(report))
            return
        }
        let tuning = report.tuning
        let f = { (v: Double?) in v.map { String(format: "%.1f", $0) } ?? "-" }
        print("bench migrate: QEMU \(report.qemu), TCG, loopback, p50 of \(runs) runs, ms from the decision to move (target launch included) to the VM running on the target")
        print("tuned = max-bandwidth \((tuning.maxBandwidthBytesPerSecond ?? 0) >> 20) MiB/s, downtime-limit \(tuning.downtimeLimitMs ?? 0) ms, auto-converge \(tuning.autoConverge)")
        print(Output.table(
            ["MEMORY", "MODE", "TOTAL", "TOTAL(qemu)", "DOWNTIME(qemu)", "RATIO TO TUNED QMP"],
            report.rows.map { ["\($0.memoryMiB) MiB", $0.mode.rawValue, f($0.totalMsP50), f($0.qemuTotalTimeMsP50), f($0.qemuDowntimeMsP50),
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
}
