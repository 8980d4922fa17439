import Foundation
package import Hummingbird
import HummingbirdCore
import HummingbirdTLS
package import Logging
import NIOCore
package import Prometheus
package import RegionProtocol
package import Policy
package import RegionListener
package import ServiceLifecycle

/// The RC-TCB's HTTPS service (mutual TLS): enrolment (no client certificate yet), the agents' routes (agent
/// certificates of enrolled, unrevoked hosts) and the operator's routes (the admin certificate).
package struct RCTCBService: Sendable {
    package let directory: RegionDirectory
    package let store: any RegionStore
    package let enrolment: EnrolmentService
    /// Agent certificate renewal (`/v1/renew/*`).
    package let renewal: CertificateRenewal
    package let region: RegionState
    let logger: Logger
    /// Where /metrics reads from (the executable bootstraps swift-metrics with it); nil: no /metrics route.
    package var prometheus: PrometheusCollectorRegistry?
    /// Moves VMs (gated migrations, evacuations); nil: the migration routes answer `migrate.unavailable`.
    package var evacuator: Evacuator?
    /// Reloads the region policy (`POST /v1/policy/reload`); nil: the route answers `policy.reload-unavailable`.
    package var reloader: PolicyReloader?
    /// The region policy's intervals, sent with every `GET /v1/peers` answer (nil: none sent).
    package var intervals: RegionIntervals?
    /// This RC-TCB's part in the region's leadership (several RC-TCBs on one store); nil: it is the only one.
    package var leadership: RegionLeadership?
    /// The list `GET /v1/peers` serves, built once per change of the IVT.
    let peerList = PeerListCache()
    /// How fast each agent certificate may call the agents' routes (``RequestBudget/Limit/agents`` unless the
    /// runner is given another).
    package var agentRequests = RequestBudget(.agents)
    /// How fast each peer address may ask to enrol (``RequestBudget/Limit/enrolment`` unless the runner is given
    /// another).
    package var enrolmentRequests = RequestBudget(.enrolment, metric: RequestBudget.enrolmentMetric)

    /// `ekPins`: the region policy's EK pins by host id (enrolment refuses any other EK for those hosts).
    /// `enrolmentChallengeLifetime`, `stepHook`: see ``EnrolmentService``; only tests pass them.
    package init(directory: RegionDirectory, region: RegionState, ekPins: [String: RegionPolicy.EKPin] = [:],
                 enrolmentChallengeLifetime: Double = 60, stepHook: (@Sendable (String) -> Void)? = nil,
                 logger: Logger) throws(RegionError) {
        try directory.requireInitialised()
        self.directory = directory
        self.store = region.store
        self.region = region
        self.logger = logger
        let ca = try RegionSetup.loadCA(directory)
        enrolment = EnrolmentService(store: region.store, ca: ca, ekAuthorities: try directory.ekCertificateAuthorities(), ekPins: ekPins,
                                     challengeLifetime: enrolmentChallengeLifetime, stepHook: stepHook, logger: logger)
        renewal = CertificateRenewal(store: region.store, ca: ca, logger: logger)
    }

    /// The HTTPS application listening on `host:port` (port 0: the OS chooses; `onRunning` gets the real port), with
    /// the listener's time-outs and connection cap per address (`limits`).
    package func application(host: String, port: Int, limits: ListenerLimits = .rctcb, services: [any Service] = [],
                            onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) throws(RegionError) -> some ApplicationProtocol {
        let tls = try directory.serverTLSConfiguration()
        let router = Router(context: RegionRequestContext.self)
        if let leadership { router.add(middleware: FollowerGate(leadership: leadership)) }
        addRoutes(router)
        let server: HTTPServerBuilder
        do { server = try .hardenedTLS(tls, limits: limits, logger: logger) } catch {
            throw RegionError(.badCertificateFile, "cannot configure TLS: \(error)")
        }
        return Application(
            router: router, server: server,
            configuration: .init(address: .hostname(host, port: port), serverName: "smig-attest-rctcb"),
            services: services,
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// Every route of the RC-TCB's HTTPS service, with who may call it. Longer than 80 lines on purpose: it is the
    /// one table of the service's surface (each handler a line or two calling `RegionState`, the reloader or the
    /// evacuator), read top to bottom when checking what a certificate can reach.
    func addRoutes(_ router: Router<RegionRequestContext>) {
        router.get(RouterPath(RCTCBRoutes.health.path)) { _, _ in
            guard let leadership else { return Self.json(["status": "ok"]) }
            let lease = leadership.mayAct ? leadership.lease : nil
            let leader = if let lease { lease.holder } else { await leadership.leader() }
            return Self.json(LeadershipHealth(role: lease == nil ? "follower" : "leader", leader: leader, epoch: lease?.epoch))
        }
        if let prometheus {
            // The region's state by host and failure code is for the operator: the admin certificate only.
            router.get("/metrics") { _, context in
                try await Self.answer {
                    try await self.require(.admin, context)
                    if let issued = try? await store.certificates() { CertificateMetrics.shared.record(issued, now: Date()) }
                    return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                                    body: .init(byteBuffer: ByteBuffer(bytes: prometheus.emitToBuffer())))
                }
            }
        }

        router.post(RouterPath(RCTCBRoutes.enrolBegin.path)) { request, context in
            try await Self.answer {
                try self.requireEnrolmentBudget(context)
                let body: EnrolmentRequest = try await Self.decode(request)
                return Self.json(try await enrolment.begin(body))
            }
        }
        router.post(RouterPath(RCTCBRoutes.enrolComplete.path)) { request, context in
            try await Self.answer {
                try self.requireEnrolmentBudget(context)
                let body: EnrolmentProof = try await Self.decode(request)
                return Self.json(try await enrolment.complete(body))
            }
        }

        router.get(RouterPath(OperatorRoutes.ivt.path)) { _, context in
            try await Self.answer {
                try await self.require(.admin, context)
                return Self.json(try await store.rows())
            }
        }
        router.get(RouterPath(OperatorRoutes.events.path)) { request, context in
            try await Self.answer {
                try await self.require(.admin, context)
                let since = request.uri.queryParameters.get("since", as: Int64.self) ?? 0
                let host = request.uri.queryParameters.get("host").map { String($0) }
                return Self.json(try await store.events(since: since, host: host, limit: 1000))
            }
        }
        router.get(RouterPath(OperatorRoutes.host.path)) { request, context in
            try await Self.answer {
                try await self.require(.admin, context)
                let host = context.parameters.get("host") ?? ""
                let bundles = request.uri.queryParameters.get("evidence").map { $0 == "true" || $0 == "1" } ?? false
                return Self.json(try await region.hostReport(host, bundles: bundles))
            }
        }
        router.post(RouterPath(OperatorRoutes.acceptReboot.path)) { request, context in
            try await Self.answer {
                try await self.require(.admin, context)
                let host = context.parameters.get("host") ?? ""
                let body: RebootAcceptanceRequest = try await Self.decode(request)
                let answer = try await store.acceptReboot(host: host, reason: body.reason, now: Date())
                logger.notice("reboot accepted by the operator", metadata: ["attest.host": "\(host)"])
                // The next verified quote is the new boot: ask for one now rather than at the next round.
                if let cfg = await region.config(host) {
                    Task { await region.challengeDirectly(cfg, reason: "reboot accepted by the operator", now: Date()) }
                }
                return Self.json(answer)
            }
        }
        router.get(RouterPath(OperatorRoutes.ring.path)) { _, context in
            try await Self.answer {
                try await self.require(.admin, context)
                return Self.json(await region.ringView())
            }
        }

        // The operator's gated migration and the VM placement.
        router.post(RouterPath(OperatorRoutes.migrations.path)) { request, context in
            try await Self.answer {
                try await self.require(.admin, context)
                let body: MigrationRequest = try await Self.decode(request)
                guard let evacuator else { throw RegionError(.migrateFailed, "this RC-TCB has no VM inventory") }
                return Self.json(try await evacuator.migrate(vm: body.vm, to: body.target))
            }
        }
        router.get(RouterPath(OperatorRoutes.evacuations.path)) { _, context in
            try await Self.answer {
                try await self.require(.admin, context)
                guard let evacuator else { throw RegionError(.migrateFailed, "this RC-TCB has no VM inventory") }
                return Self.json(try await evacuator.records.all())
            }
        }
        router.post(RouterPath(OperatorRoutes.policyReload.path)) { _, context in
            try await Self.answer {
                try await self.require(.admin, context)
                guard let reloader else { throw RegionError(.init(rawValue: "policy.reload-unavailable"), "this RC-TCB was not started from a policy file") }
                return Self.json(try await reloader.reload(trigger: "the operator (rctcb reload)"))
            }
        }
        router.get(RouterPath(OperatorRoutes.vms.path)) { _, context in
            try await Self.answer {
                try await self.require(.admin, context)
                guard let evacuator else { throw RegionError(.migrateFailed, "this RC-TCB has no VM inventory") }
                return Self.json(try await evacuator.placement())
            }
        }

        // Agents: certificate renewal (a quote by the enrolled AK over the RC-TCB's nonce).
        router.post(RouterPath(RCTCBRoutes.renewBegin.path)) { _, context in
            try await Self.answer {
                let id = try await self.require(.agent, context)
                try await region.admitAgent(id.name, akName: id.akName)
                return Self.json(try await renewal.begin(host: id.name, akName: id.akName))
            }
        }
        router.post(RouterPath(RCTCBRoutes.renewComplete.path)) { request, context in
            try await Self.answer {
                let id = try await self.require(.agent, context)
                try await region.admitAgent(id.name, akName: id.akName)
                let body: RenewalProof = try await Self.decode(request)
                return Self.json(try await renewal.complete(host: id.name, akName: id.akName, proof: body))
            }
        }

        // Agents: ring duty and reports.
        router.post(RouterPath(RCTCBRoutes.ringAssignment.path)) { _, context in
            try await Self.answer {
                let me = try await self.requireAgent(context)
                return Self.json(try await region.assignment(for: me))
            }
        }
        router.post(RouterPath(RCTCBRoutes.reports.path)) { request, context in
            try await Self.answer {
                let me = try await self.requireAgent(context)
                let (body, evidenceAsSent) = try await Self.decodeReport(request)
                return Self.json(bytes: RegionJSON.fastEncode(try await region.intake(body, from: me, admitted: true,
                                                                                      evidenceAsSent: evidenceAsSent)))
            }
        }
        // Agents: whose certificates they may serve quotes to (enrolled hosts with their AK Names; revoked hosts), and
        // the region's intervals.
        router.get(RouterPath(RCTCBRoutes.peers.path)) { request, context in
            try await Self.answer {
                try await self.requireAgent(context)
                let since = request.uri.queryParameters.get("since", as: Int64.self)
                var answer = await region.peers(since: since, cache: peerList)
                answer.intervals = intervals
                return Self.json(answer)
            }
        }
        router.post(RouterPath(RCTCBRoutes.notices.path)) { request, context in
            try await Self.answer {
                let me = try await self.requireAgent(context)
                let body: ChangeNotice = try await Self.decode(request)
                await region.noticeReceived(body, from: me)
                return Self.json(["status": "accepted"])
            }
        }
    }

    /// Requires a client certificate of `role`.
    @discardableResult
    func require(_ role: RegionIdentity.Role, _ context: RegionRequestContext) async throws -> RegionIdentity {
        guard let id = await context.peerIdentity() else {
            throw RegionError(.noClientCertificate, "this route needs a region client certificate")
        }
        guard id.role == role else { throw RegionError(.forbidden, "a \(id.role.rawValue) certificate cannot use this route") }
        if role == .agent {
            try spend(agentRequests, by: id.name, logKey: "attest.host",
                      overBudget: "agent over its request budget: refusing its requests until it slows down (logged once a minute)") {
                "host \(id.name) made requests faster than its budget (\($0)); retry after a second"
            }
        }
        return id
    }

    /// Takes an enrolment request from its peer address's budget, before its body is read; refuses it when the
    /// address is over it. Enrolment needs no certificate: the address is all there is to tell callers apart.
    func requireEnrolmentBudget(_ context: RegionRequestContext) throws {
        let address = context.peerAddressKey
        try spend(enrolmentRequests, by: address, logKey: "attest.peer",
                  overBudget: "address over its enrolment budget: refusing its enrolment requests until it slows down (logged once a minute)") {
            "address \(address) asked to enrol faster than its budget (\($0)); retry after a second"
        }
    }

    /// Takes one request of `caller` from `budget`. Over it: `overBudget` is logged (once a minute per caller, named
    /// under `logKey`) and the request refused with `request.rate-limited` and `reason(the limit)`.
    func spend(_ budget: RequestBudget, by caller: String, logKey: String, overBudget: Logger.Message,
               reason: (String) -> String) throws(RegionError) {
        guard case .refused(let report) = budget.take(caller) else { return }
        let limit = budget.limit.map(\.description) ?? ""
        if report { logger.warning(overBudget, metadata: [logKey: "\(caller)", "attest.limit": "\(limit)"]) }
        throw RegionError(.rateLimited, reason(limit))
    }

    /// Requires an agent certificate whose host is enrolled with the certificate's AK and not revoked.
    @discardableResult
    func requireAgent(_ context: RegionRequestContext) async throws -> String {
        let id = try await require(.agent, context)
        try await region.admitAgent(id.name, akName: id.akName)
        return id.name
    }

    // MARK: JSON

    static let maxBody = 4 << 20

    static func decode<T: Decodable>(_ request: Request) async throws -> T {
        let body = try await body(request)
        return try RegionJSON.decode(T.self, from: body)
    }

    /// A report body, by the fast reader when it is in the form agents send, with its evidence's bytes as sent (see
    /// `RegionJSON.decodeReportAsSent`).
    static func decodeReport(_ request: Request) async throws -> (report: AIMReport, evidence: Data?) {
        let body = try await body(request)
        return try RegionJSON.decodeReportAsSent(body)
    }

    /// A request's body, at most ``maxBody`` bytes.
    static func body(_ request: Request) async throws -> Data {
        let buffer = try await request.body.collect(upTo: maxBody)
        return Data(buffer.readableBytesView)
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
        json(bytes: RegionJSON.encode(value), status: status)
    }

    /// A body already encoded as RegionJSON.
    static func json(bytes data: Data, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Runs a route body; a RegionError becomes its coded JSON body with a 4xx status.
    static func answer(_ body: () async throws -> Response) async throws -> Response {
        do { return try await body() } catch let e as RegionError {
            let status: HTTPResponse.Status = switch e.code {
            case .noClientCertificate: .unauthorized
            case .rateLimited: .tooManyRequests
            case .rebootNotPending: .conflict
            case .forbidden, .revoked, .akChanged, .alreadyEnrolled, .ekNotPinned, .ekNotAllowed, .ekBoundElsewhere, .activationFailed, .ekCertificateUntrusted, .ekCertificateMismatch, .notAssigned, .reporterNotTrusted,
                 .renewUnknownChallenge, .renewAKMismatch, .renewQuoteRefused: .forbidden
            case .unknownHost, .hostUnknown, .unknownChallenge, .migrateUnknownVM, .migrateTargetUnknown: .notFound
            case .migrateTargetUntrusted, .migrateTargetStale, .migrateTargetExcluded, .migrateTargetFull, .migrateChallengeFailed,
                 .migrateReattestFailed, .migrateSameHost: .conflict
            case .storeFailed, .storeCorrupt: .internalServerError
            case _ where e.code.rawValue.hasPrefix("policy."): .unprocessableContent
            default: .badRequest
            }
            var response = json(RegionErrorBody(code: e.code.rawValue, message: e.reason), status: status)
            if e.code == .rateLimited { response.headers[.retryAfter] = "1" }
            return response
        } catch let e as RegionJSON.Failure {
            return json(RegionErrorBody(code: "request.malformed", message: e.reason), status: .badRequest)
        } catch let e as HTTPError where e.status == .contentTooLarge {
            return json(RegionErrorBody(code: "request.too-large", message: "request body larger than \(maxBody) bytes"), status: .contentTooLarge)
        }
    }
}
