package import ArgumentParser
import Agent
import Foundation
import Logging
import Metrics
import Prometheus
import RegionProtocol
import TPM

/// `smig-attest agent …`: the per-host agent.
package struct AgentCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "The per-host agent: enrolment with the RC-TCB, measurement, quotes, ring duty.",
        subcommands: [Enrol.self, Run.self, XLStreamCommand.self])

    package init() {}

    package struct Enrol: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Enrol this host's TPM with the RC-TCB and receive the agent's client certificate.",
            discussion: """
            Needs an attestation key (smig-attest tpm provision). Sends the EK, its certificate and the AK; the \
            RC-TCB checks the EK certificate chain and the AK's attributes and answers with a credential only this \
            TPM can recover (TPM2_ActivateCredential). Writes STATE_DIR/tls.key (0600), tls.pem and region-ca.pem.

            Waits and asks again while the RC-TCB answers request.rate-limited (its address's enrolment budget). \
            Starts again, up to three rounds, when the answer cannot reach its challenge any more (expired, \
            unknown, or its RC-TCB stopped leading or answering); with several --rctcb URLs the next round asks \
            another. Each new round is said on stderr.
            """)

        @Option(help: ArgumentHelp("The RC-TCB's URL, e.g. https://10.20.0.10:8443, or the region's RC-TCBs separated by commas.", valueName: "url")) var rctcb: String
        @Option(help: ArgumentHelp("The region CA certificate (PEM) the operator gave this host.", valueName: "file")) var ca: String
        @Option(help: "This host's id in the region policy.") var hostId: String
        @OptionGroup var tpm: TPMOptions
        @OptionGroup var state: StateOptions
        @OptionGroup var output: OutputOptions

        package init() {}

        package func run() async throws {
            try await Output.reportingAsync {
                let host: HostTPM
                do { host = try HostTPM(tcti: tpm.resolvedTCTI, stateDirectory: state.directory.path, hostId: hostId) } catch {
                    throw CommandFailure("\(error)", exitCode: 2)
                }
                let result = try await AgentEnrolment.enrol(rctcb: rctcb, caFile: ca, tpm: host) { round, failure in
                    Output.stderr("smig-attest: enrolment round \(round) ended with \(failure.code) (\(failure.message)); starting again\n")
                }
                if output.json { Output.json(result) } else {
                    Output.line("enrolled \(result.hostId) with AK \(result.akName); client certificate \(result.certificate)")
                }
            }
        }
    }

    package struct Run: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Run the agent in the foreground until SIGTERM/SIGINT (serves quotes, measures, does ring duty).",
            discussion: """
                The configuration file is JSON; see docs/region.md for its keys. Enrol first (agent enrol).

                With `vmManager` the agent carries out the RC-TCB's migration orders with this host's VM manager: \
                `libvirt` (vmManagerURI: the local libvirtd, default qemu:///system; migrationAddress: this libvirtd as \
                other hosts reach it, e.g. qemu+tls://10.0.0.12/system) or `qemu`, the lab's QEMU processes (vmManagerURI: \
                the VMs' directory of QMP sockets and pid files; vmImageDirectory: where their boot images lie; \
                migrationAddress: tcp:ADDRESS:LOW-HIGH, where a receiving QEMU listens). docs/migration.md says which to pick.
                """)

        @Option(help: ArgumentHelp("The agent configuration (JSON).", valueName: "file")) var config: String
        @Option(help: ArgumentHelp("Write the bound port here once listening.", valueName: "file")) var portFile: String?
        @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel: String = "info"
        /// Only errors are printed (the agent logs): with --json, as one JSON object.
        @OptionGroup var output: OutputOptions

        package init() {}

        package func run() async throws {
            try await Output.reportingAsync {
                let cfg: AgentConfig
                do { cfg = try AgentConfig.load(config) } catch { throw CommandFailure("\(error)", exitCode: 2) }
                var logger = Logger(label: "smig-attest.agent")
                logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
                logger[metadataKey: "attest.self"] = "\(cfg.hostId)"
                let host: HostTPM
                do { host = try HostTPM(tcti: cfg.tcti ?? TPMDevice.environmentTCTI, stateDirectory: cfg.stateDirectory, hostId: cfg.hostId,
                                                  bootLogPath: cfg.resolvedBootLog, flushingLeftovers: true) } catch {
                    throw CommandFailure("\(error)", exitCode: 2)
                }
                var runtime = try AgentRuntime(config: cfg, tpm: host, logger: logger)
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
                runtime.prometheus = registry
                let portFile = self.portFile, log = logger
                try await runtime.run { bound in
                    log.notice("agent listening", metadata: ["attest.port": "\(bound)"])
                    if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                }
            }
        }
    }
}
