public import ArgumentParser
import Foundation
import Migration
#if canImport(Glibc)
import Glibc
#endif

/// `smig-attest migrate VM --to HOST`: live-migrate, ungated.
public struct MigrateCommand: AsyncParsableCommand {
    public static let gateLabel = "UNGATED: no attestation check"

    public static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Live-migrate a VM to another host. UNGATED: no attestation check.",
        discussion: """
            Steps, each recorded in the inventory before the next: planned, target-prepared \
            (target paused, -incoming), transfer-started, transferred, target-resumed, \
            source-stopped, completed. If this process dies, `smig-attest vms --recover` \
            leaves exactly one running copy.
            """)

    @OptionGroup public var options: MigrationStateOptions
    @Argument(help: "VM to move.") public var vm: String
    @Option(help: "Target host.") public var to: String
    @Flag(name: .customLong("no-resume"), help: "Stop after the transfer, target paused; finish with `vm resume`.")
    public var noResume = false
    @Option(name: .customLong("crash-after"), help: .hidden)
    public var crashAfter: String?

    public init() {}

    public func validate() throws {
        if let crashAfter, MigrationStep(rawValue: crashAfter) == nil {
            throw ValidationError("--crash-after: unknown step \(crashAfter)")
        }
    }

    public func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        let orchestrator = try options.orchestrator()
        let crashStep = crashAfter.flatMap(MigrationStep.init(rawValue:))
        let terminal = isatty(2) == 1 && !options.json
        Output.stderr("\(Self.gateLabel)\n")
        let report = try await orchestrator.migrate(
            vm: vm, to: to, resume: !noResume,
            progress: { p in
                guard terminal else { return }
                let mib = { (b: UInt64) in String(format: "%.1f", Double(b) / 1_048_576) }
                Output.stderr("\r\(p.status): \(mib(p.transferredBytes)) MiB sent, \(mib(p.remainingBytes)) MiB remaining   ")
            },
            afterStep: { step in
                // Test hook: die exactly as a crash would, right after `step` was committed.
                if step == crashStep { kill(getpid(), SIGKILL) }
            })
        if terminal { Output.stderr("\n") }
        if options.json {
            struct Out: Codable { var gate: String; var report: MigrationReport }
            print(try Output.jsonString(Out(gate: Self.gateLabel, report: report)))
        } else {
            let f = { (v: Double?) in v.map { String(format: "%.1f ms", $0) } ?? "-" }
            print("\(report.vm): \(report.source) -> \(report.target) \(report.resumed ? "running on \(report.target)" : "paused on \(report.target) (run `vm resume \(report.vm)`)")")
            print("  total \(f(report.measuredTotalMs)), transfer \(f(report.measuredTransferMs)) (QEMU: total \(report.final.totalTimeMs.map { "\($0) ms" } ?? "-"), downtime \(report.final.downtimeMs.map { "\($0) ms" } ?? "-")), guest pause \(f(report.guestPauseMs)), resume \(f(report.measuredResumeMs))")
        }
    }
}
