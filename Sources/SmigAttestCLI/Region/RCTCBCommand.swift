package import ArgumentParser
import Foundation
import Logging
import Metrics
import Prometheus
import Policy
import RegionListener
import RegionTCB

/// `smig-attest rctcb …`: the Region Critical TCB.
package struct RCTCBCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "rctcb",
        abstract: "The Region Critical TCB: region CA, enrolment, the IVT, the attestation ring.",
        subcommands: [Init.self, Serve.self, Revoke.self, Readmit.self, AcceptReboot.self, Certs.self, Reload.self])

    package init() {}

    package struct Init: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Create the region CA, the RC-TCB's server certificate, the admin certificate and an empty IVT.",
            discussion: """
            Writes DIR/region-ca.{key,pem}, DIR/rctcb.{key,pem} (server), DIR/admin.{key,pem} (the operator's client \
            identity for `ivt`, `ring`, `events`), DIR/ek-ca/ (the CAs trusted to certify EKs: every --ek-ca file) \
            and DIR/ivt.sqlite with the region's hosts in state `unknown`. Keys are mode 0600. An existing region is \
            never overwritten without --force. For hardware TPMs, put the TPM vendors' EK root (and intermediate) \
            CA certificates in DIR/ek-ca/ as PEM files.

            An offline root: with --root-ca ROOT.pem --root-ca-key ROOT.key (P-256 or P-384, a CA that may have a CA \
            under it) the root signs a new issuing CA, DIR/issuing-ca.{key,pem}, which issues every certificate of the \
            region; DIR/region-ca.pem is then the root certificate (what agents and operators trust) and the root's \
            key is read once and never written into DIR — keep it offline.
            """)

        @Option(help: ArgumentHelp("The region policy (YAML).", valueName: "file")) var region: String
        @Option(help: ArgumentHelp("The RC-TCB directory to create.", valueName: "dir")) var dir: String
        @Option(name: .customLong("ek-ca"), help: ArgumentHelp("A CA certificate (PEM) trusted to certify EKs; repeatable.", valueName: "file"))
        var ekCA: [String] = []
        @Option(name: .customLong("server-name"), help: ArgumentHelp("A DNS name or IPv4 address of the RC-TCB for its certificate; repeatable (default: the policy's rc-tcb address, localhost, 127.0.0.1).", valueName: "name"))
        var serverNames: [String] = []
        @Option(name: .customLong("root-ca"), help: ArgumentHelp("An offline root CA certificate (PEM) to sign the region's issuing CA (with --root-ca-key).", valueName: "file"))
        var rootCA: String?
        @Option(name: .customLong("root-ca-key"), help: ArgumentHelp("The offline root's key (PEM, P-256 or P-384); read once, never stored.", valueName: "file"))
        var rootCAKey: String?
        @Flag(help: "Replace an existing region in DIR (new CA: every host must enrol again).") var force = false
        @OptionGroup var output: OutputOptions

        package init() {}

        package func validate() throws {
            if (rootCA == nil) != (rootCAKey == nil) { throw ValidationError("--root-ca and --root-ca-key go together") }
        }

        package func run() async throws {
            try await Output.reportingAsync {
                // Through PolicyDocument's reader, as `rctcb serve` reads it: at most its size, UTF-8 only.
                let policy: RegionPolicy
                do { policy = try RegionPolicy(contentsOfFile: region) } catch { throw CommandFailure("\(error)", exitCode: 2) }
                var names = serverNames
                if names.isEmpty { names = [policy.rcTCB?.address, "localhost", "127.0.0.1"].compactMap { $0 } }
                names = names.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
                let directory = RegionDirectory(dir)
                try RegionSetup.initialise(directory, .init(
                    regionName: policy.name, hosts: policy.hosts.map { ($0.id, $0.endpoint.address, $0.capacityVCPUs) },
                    policyDigest: "", ekCertificateAuthorities: ekCA, serverNames: names, force: force,
                    root: rootCA.flatMap { certificate in rootCAKey.map { (certificate, $0) } }))
                if output.json {
                    var files = ["directory": directory.path, "caCertificate": directory.caCertificate, "serverCertificate": directory.serverCertificate,
                                 "adminCertificate": directory.adminCertificate, "database": directory.database]
                    if rootCA != nil { files["issuingCertificate"] = directory.issuingCertificate }
                    Output.json(files)
                } else {
                    Output.line("""
                    region \(policy.name): \(policy.hosts.count) host(s) in state unknown
                    region CA:     \(directory.caCertificate) (give it to every agent: agent enrol --ca)\(rootCA == nil ? "" : "\nissuing CA:    \(directory.issuingCertificate), signed by the offline root (its key is not in \(directory.path))")
                    RC-TCB:        \(directory.serverCertificate) for \(names.joined(separator: ", "))
                    admin:         \(directory.adminCertificate)
                    EK CAs:        \(ekCA.isEmpty ? "none yet: add PEM files to \(directory.ekCADirectory)" : "\(ekCA.count) in \(directory.ekCADirectory)")
                    IVT:           \(directory.database)
                    """)
                }
            }
        }
    }

    package struct Serve: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Run the RC-TCB service (HTTPS with mutual TLS) in the foreground until SIGTERM/SIGINT.",
            discussion: """
            One RC-TCB serves a directory: it holds a lock on DIR/rctcb.lock while it runs (the kernel releases it \
            when the process ends, also on a crash), and a second `rctcb serve` on the same directory is refused \
            (rctcb.directory-in-use, with the pid of the one serving it) before it listens or writes anything. \
            SIGHUP reloads the region policy and its golden values, as `rctcb reload` does.

            With --store postgresql://…, several RC-TCBs (each with its own copy of the directory) serve one region: \
            one leads (a lease in the database) and runs the ring, the scheduler, the decision engine and evacuations; \
            the others answer rctcb.not-leader and take over when the leader's lease runs out. A leader whose lease \
            passed to another exits with store.fenced (run it under a supervisor that starts it again: it comes back \
            as a follower). The store keeps the region's VM inventory and migration journal and the ring's nonces too, \
            so a new leader finishes the old one's moves and takes reports on its nonces; followers LISTEN for the \
            store's changes and take a released lease at once. See docs/region.md.
            """)

        @Option(help: ArgumentHelp("The region policy (YAML).", valueName: "file")) var region: String
        @Option(help: ArgumentHelp("The RC-TCB directory (rctcb init).", valueName: "dir")) var dir: String
        @Option(help: "Address to listen on.") var listen: String = "127.0.0.1"
        @Option(help: "Port to listen on (0: the OS chooses; see --port-file).") var port: Int = 8443
        @Option(help: ArgumentHelp("Write the bound port here once listening.", valueName: "file")) var portFile: String?
        @Option(help: "Log level (trace, debug, info, notice, warning, error).") var logLevel: String = "info"
        @Option(help: ArgumentHelp("""
            The VM inventory the RC-TCB moves VMs by (default: DIR/vms.sqlite, the file `vm … --state-dir DIR` writes). \
            Not with --store, which keeps the region's inventory itself (`vm … --store URL --region FILE`).
            """, valueName: "file"))
        var inventory: String?
        @Option(name: .customLong("max-connections-per-address"),
                help: "Connections accepted at once from one client address (0: no cap, e.g. for a load generator speaking for many hosts).")
        var maxConnectionsPerAddress: Int = ListenerLimits.rctcb.maxConnectionsPerAddress
        @Option(name: .customLong("new-connections-per-second"), help: ArgumentHelp("""
            New connections one client address may open per second on average, in bursts of up to four seconds' \
            worth; faster ones are closed as they are accepted, before their TLS handshake. An agent keeps its \
            connection open. 0: no limit (e.g. for a load generator speaking for many hosts).
            """, valueName: "n"))
        var newConnectionsPerSecond: Double = ListenerLimits.rctcb.newConnectionsPerSecond
        @Option(name: .customLong("agent-requests-per-second"), help: ArgumentHelp("""
            Requests one agent certificate may make per second on average, in bursts of up to four seconds' worth; \
            faster ones are refused with request.rate-limited (HTTP 429) before anything is read or verified. An \
            honest agent makes a few per ring interval. 0: no limit (e.g. for a load generator speaking for many hosts).
            """, valueName: "n"))
        var agentRequestsPerSecond: Double = RequestBudget.Limit.agents.perSecond
        @Option(name: .customLong("enrolment-requests-per-second"), help: ArgumentHelp("""
            Enrolment requests (which need no certificate) one client address may make per second on average, in \
            bursts of up to four seconds' worth; an IPv6 address counts by its /64. Faster ones are refused with \
            request.rate-limited (HTTP 429) before their body is read; `agent enrol` waits and tries again. A host \
            enrols once, in two requests. 0: no limit.
            """, valueName: "n"))
        var enrolmentRequestsPerSecond: Double = RequestBudget.Limit.enrolment.perSecond
        @Option(help: ArgumentHelp("""
            The region store: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require], shared by \
            every RC-TCB of the region (and by other regions, each seeing its own rows). Default: the directory's SQLite IVT.
            """, valueName: "url"))
        var store: String?
        @Option(help: ArgumentHelp("""
            With --store: seconds the leader's lease lasts without renewal (renewed every third of it). A follower \
            takes over at most this long after the leader died; a leader that cannot renew within it stops acting.
            """, valueName: "seconds"))
        var lease: Double = Double(RCTCBRunner.defaultLease.components.seconds)
        /// Only errors are printed (the service logs): with --json, as one JSON object.
        @OptionGroup var output: OutputOptions

        package init() {}

        package func validate() throws {
            guard lease >= 0.3, lease <= 600 else { throw ValidationError("--lease must be 0.3 to 600 seconds") }
            for (option, rate) in [("--agent-requests-per-second", agentRequestsPerSecond), ("--enrolment-requests-per-second", enrolmentRequestsPerSecond),
                                   ("--new-connections-per-second", newConnectionsPerSecond)] where !RequestBudget.Limit.settableRates.contains(rate) {
                throw ValidationError("\(option) must be 0 (no limit) to \(RequestBudget.Limit.highestSettableRate)")
            }
        }

        package func run() async throws {
            try await Output.reportingAsync {
                var logger = Logger(label: "smig-attest.rctcb")
                logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
                let lease = Duration.milliseconds(Int64(lease * 1000))
                let runner = try await RCTCBRunner(directory: RegionDirectory(dir), regionFile: region, logger: logger, prometheus: registry,
                                                   inventory: inventory, openStore: RegionStoreChoice.opener(store, lease: lease, logger: logger),
                                                   lease: lease)
                let portFile = self.portFile, listen = self.listen, log = logger
                var limits = ListenerLimits.rctcb
                limits.maxConnectionsPerAddress = max(0, maxConnectionsPerAddress)
                limits.newConnectionsPerSecond = newConnectionsPerSecond
                let agentRequests = RequestBudget.Limit.perSecond(agentRequestsPerSecond)
                let enrolmentRequests = RequestBudget.Limit.perSecond(enrolmentRequestsPerSecond)
                try await runner.run(host: listen, port: port, limits: limits, agentRequests: agentRequests,
                                     enrolmentRequests: enrolmentRequests) { bound in
                    log.notice("RC-TCB listening", metadata: ["attest.address": "\(listen):\(bound)"])
                    if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
                }
            }
        }
    }

    package struct Revoke: AsyncParsableCommand {
        package static let configuration = CommandConfiguration(
            abstract: "Revoke a host: its certificate is refused from now on, its state becomes untrusted.",
            discussion: "The host can enrol again only after `rctcb readmit HOST`.")

        @OptionGroup var target: HostInRegion
        @OptionGroup var output: OutputOptions

        package init() {}

        package func run() async throws {
            try await Output.reportingAsync {
                try await target.store().revoke(host: target.host, now: Date())
                if output.json { Output.json(["host": target.host, "revoked": "true"]) } else { Output.line("revoked \(target.host)") }
            }
        }
    }
}

/// The host and the RC-TCB directory that `rctcb revoke` and `rctcb readmit` act on.
struct HostInRegion: ParsableArguments {
    @Argument(help: "The host id.") var host: String
    @Option(help: ArgumentHelp("The RC-TCB directory.", valueName: "dir")) var dir: String
    @OptionGroup var storeOptions: StoreOptions

    /// The IVT of an initialised RC-TCB directory, or the region's rows in the store `--store` names.
    func store() async throws -> any RegionStore { try await storeOptions.open(RegionDirectory(dir)) }
}
