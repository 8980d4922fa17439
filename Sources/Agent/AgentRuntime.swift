import Foundation
import Attestation
package import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import UnixSignals
package import Logging
import Measurement
package import Prometheus
import NIOCore
import NIOSSL
import Policy
package import RegionProtocol
import RegionListener
package import ServiceLifecycle
import TPMWire

/// The per-host agent: serves quotes to the RC-TCB and its ring neighbour (mutual TLS, region certificates; see
/// ``QuoteEndpoint`` for who is served and how often), takes the RC-TCB's migration orders (``OrderEndpoint``),
/// re-measures at an interval and extends only on change (pushing a notice at once), and does its ring duty:
/// challenge the neighbour the RC-TCB assigned, with the nonce the RC-TCB issued for that pair, and report.
package struct AgentRuntime: Sendable {
    package let config: AgentConfig
    package let tpm: HostTPM
    /// The region identity in use (renewed in place: ``renewCertificate()``).
    let identity: AgentIdentity
    /// To the RC-TCB (its certificate must name its address) and to the ring neighbour's quote endpoint, with the
    /// identity in use.
    var client: RegionClient { identity.value.rctcb }
    var neighbours: RegionClient { identity.value.neighbours }
    let timeout: TimeAmount
    /// Where `GET /metrics` on the quote endpoint reads from (the executable bootstraps swift-metrics with it); nil:
    /// no such route.
    package var prometheus: PrometheusCollectorRegistry?
    let logger: Logger
    /// Whose certificates the quote endpoint serves, as the RC-TCB last said.
    package let peers = PeerStanding()
    /// The quote endpoint's limits per peer.
    package let admission = QuoteAdmission()
    /// How often to measure and challenge: the region's intervals (learnt with the peers), or agent.json's if shorter.
    package let pace: AgentPace

    package init(config: AgentConfig, tpm: HostTPM, logger: Logger) throws {
        self.config = config
        pace = AgentPace(measurement: config.measurementInterval, challenge: config.challengeInterval)
        self.tpm = tpm
        self.logger = logger
        let files = AgentIdentityFiles(stateDirectory: config.stateDirectory)
        timeout = TimeAmount.milliseconds(Int64(config.challengeTimeout * 1000))
        rctcbs = try RCTCBEndpoints(config.rctcb)
        identity = try AgentIdentity(files: files, timeout: timeout)
    }

    /// The region's RC-TCBs (agent.json's `rctcb`, one URL or several): requests go to the one that answered last,
    /// and to the next when it does not answer or follows another.
    let rctcbs: RCTCBEndpoints

    /// The migration orders this agent took (its journal under the state directory), carried out with the VM manager
    /// agent.json names.
    package func orderBook() async throws -> OrderBook {
        try await OrderBook(hostId: config.hostId, stateDirectory: config.stateDirectory, manager: try config.hostVMManager())
    }

    /// The quote endpoint and the order routes as an HTTPS application; `onRunning` receives the bound port.
    package func application(services: [any Service], orders: OrderBook, onRunning: @escaping @Sendable (Int) async -> Void) throws -> some ApplicationProtocol {
        let files = AgentIdentityFiles(stateDirectory: config.stateDirectory)
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(files.tlsCertificate).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: files.tlsKey, format: .pem)))
        tls.trustRoots = .file(files.regionCA)
        tls.certificateVerification = .noHostnameVerification
        // Each handshake presents the identity in use: a renewed certificate without a restart.
        let identity = self.identity
        tls.sslContextCallback = { _, promise in
            let current = identity.value
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = current.chain
            override.privateKey = current.key
            promise.succeed(override)
        }
        let router = Router(context: RegionRequestContext.self)
        QuoteEndpoint(tpm: tpm, peers: peers, admission: admission, refreshPeers: { _ = await self.refreshPeers() }, logger: logger)
            .add(to: router)
        OrderEndpoint(book: orders, manager: try config.hostVMManager(), logger: logger).add(to: router)
        if let prometheus {
            // The agent's metrics (its certificate's days to expiry, renewals) are the operator's: the admin certificate only.
            router.get("/metrics") { _, context in
                guard let peer = await context.peerIdentity(), peer.role == .admin else {
                    let body = RegionJSON.encode(RegionErrorBody(.forbidden, message: "/metrics needs the admin certificate"))
                    return Response(status: .forbidden, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
                }
                return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                                body: .init(byteBuffer: ByteBuffer(bytes: prometheus.emitToBuffer())))
            }
        }
        return Application(
            router: router, server: try .hardenedTLS(tls, limits: config.listenerLimits, logger: logger),
            configuration: .init(address: .hostname(config.listenAddress, port: config.listenPort), serverName: "smig-attest-agent"),
            services: services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }

    // MARK: Measure loop

    /// Measures the configured sources, extends what changed; returns the names that changed.
    package func measureOnce() async throws -> [String] {
        let sources = try config.sources.map { spec throws -> any MeasurementSource in try SourceSpec.parse(spec) }
        var measurements: [NamedMeasurement] = []
        for s in sources { measurements += try s.measure() }
        let logPath = tpm.measurementLogPath
        let taken = measurements
        let appended = try await tpm.run { device in
            try Measurer.extend(taken, logPath: logPath, extender: TPMPCRExtender(device: device), pcr: Measurer.defaultPCR)
        }
        return appended.map { $0.content.name }
    }

    func measureLoop() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                let changed = try await measureOnce()
                if !changed.isEmpty {
                    logger.notice("measurements changed", metadata: ["attest.changed": "\(changed.joined(separator: ","))"])
                    if config.push {
                        do {
                            let notice = ChangeNotice(changed: changed, at: Date())
                            _ = try await rctcbs.call { base in try await client.call(RCTCBRoutes.notices, at: base, notice) }
                        } catch {
                            logger.warning("change notice not delivered", metadata: ["attest.reason": "\(error)"])
                        }
                    }
                }
            } catch {
                logger.error("measurement failed", metadata: ["attest.reason": "\(error)"])
            }
            try? await Task.sleep(for: .milliseconds(Int(pace.measurement * 1000)))
        }
    }

    // MARK: Peers

    /// Asks the RC-TCB whose certificates the quote endpoint may serve (only what changed since the last answer);
    /// false when it did not answer (the last list stays in force).
    @discardableResult
    package func refreshPeers() async -> Bool {
        let since = peers.version.map { "since=\($0)" }
        do {
            let answer = try await rctcbs.call { base in try await client.call(RCTCBRoutes.peers, at: base, query: since) }
            peers.update(answer)
            if pace.update(answer.intervals), let intervals = answer.intervals {
                logger.notice("pace", metadata: ["attest.measure-every": "\(pace.measurement)s", "attest.challenge-every": "\(pace.challenge)s",
                                                 "attest.region-measurement": "\(intervals.measurement)s", "attest.region-challenge": "\(intervals.challenge)s"])
            }
            return true
        } catch {
            logger.warning("region peers not refreshed", metadata: ["attest.reason": "\(error)"])
            return false
        }
    }

    func peerLoop() async {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(Int((config.peerRefreshInterval ?? 10) * 1000)))
            await refreshPeers()
        }
    }

    // MARK: Ring duty

    /// One round of ring duty: the assignment (`given`, the one the last report's answer carried, while its
    /// nonce outlives a challenge that takes the whole time-out; else asked for), challenge the neighbour, report.
    package func ringDutyOnce(given: RingAssignment? = nil) async -> ReportResult? {
        let assignment: RingAssignment
        if let given, let until = given.validUntil, until.timeIntervalSinceNow > config.challengeTimeout + 1 {
            assignment = given
        } else {
            do { assignment = try await rctcbs.call { base in try await client.call(RCTCBRoutes.ringAssignment, at: base) } } catch {
                logger.warning("no ring assignment", metadata: ["attest.reason": "\(error)"])
                return nil
            }
        }
        guard let target = assignment.target, let address = assignment.address, let port = assignment.port,
              let nonce = assignment.nonce, let selection = assignment.pcrSelection else { return nil }
        var report: AIMReport
        do {
            let bundle = try await neighbours.call(AgentRoutes.quote, at: "https://\(address):\(port)", QuoteChallenge(nonce: nonce, pcrSelection: selection))
            report = AIMReport(target: target, nonce: nonce, outcome: .evidence, evidence: bundle)
        } catch {
            report = AIMReport(target: target, nonce: nonce, outcome: .noAnswer, detail: "\(error)")
        }
        do {
            let sent = report
            let result = try await rctcbs.call { base in try await client.call(RCTCBRoutes.reports, at: base, sent) }
            return result
        } catch {
            logger.warning("report refused", metadata: ["attest.host": "\(target)", "attest.reason": "\(error)"])
            return nil
        }
    }

    func ringLoop() async {
        var next: RingAssignment?
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            next = await ringDutyOnce(given: next)?.next
            try? await Task.sleep(for: .milliseconds(Int(pace.challenge * 1000)))
        }
    }

    /// Runs the quote endpoint, the measure loop and ring duty until SIGTERM/SIGINT.
    package func run(onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        // Measure before answering the first challenge: after a reboot the runtime log starts empty, and a quote
        // taken before the first extend would show the hypervisor as never measured.
        do { _ = try await measureOnce() } catch {
            logger.error("measurement failed", metadata: ["attest.reason": "\(error)"])
        }
        // Learn the region's peers before serving them (the RC-TCB is always served).
        await refreshPeers()
        let loops = AgentLoops(runtime: self)
        let app = try application(services: [loops], orders: try await orderBook(), onRunning: onRunning)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do { try await group.run() } catch {
            let at = "\(config.listenAddress):\(config.listenPort)"
            switch ListenFailure(error) {
            case .addressInUse:
                throw AgentEnrolment.Failure(code: "agent.address-in-use", message: "cannot listen on \(at): another process is listening "
                                             + "there (hint: stop it, or give another listenPort in the agent configuration)")
            case .cannotListen(let reason):
                throw AgentEnrolment.Failure(code: "agent.cannot-listen", message: "cannot listen on \(at): \(reason) (hint: listenAddress "
                                             + "in the agent configuration must be an address of this machine)")
            case nil:
                throw error
            }
        }
    }
}
