import Foundation
import Attestation
package import Logging
package import Policy
import NIOCore
package import Prometheus
import UnixSignals
import RegionProtocol
package import RegionListener
import ServiceLifecycle
import TPMWire
import Migration
import DurationUnits

/// Assembles the RC-TCB from its directory and the region policy, and runs it until SIGTERM/SIGINT.
package struct RCTCBRunner: Sendable {
    package var service: RCTCBService
    package let region: RegionState
    package let policy: RegionPolicy
    package let evacuator: Evacuator
    /// Reloads the golden values live (`rctcb reload`, SIGHUP).
    package let reloader: PolicyReloader
    let webhooks: WebhookNotifier
    let client: RegionClient
    let logger: Logger
    /// This RC-TCB's part in the region's leadership, when the store is shared by several (PostgreSQL); nil: the
    /// region's only RC-TCB (SQLite).
    package let leadership: RegionLeadership?
    /// This process's claim on the directory, held as long as the runner lives.
    let lock: DirectoryLock
    /// With several RC-TCBs: follow the changes the store announces (LISTEN/NOTIFY); nil: poll at each round only.
    let changeFollower: RegionChangeFollower?

    /// The PCRs every challenge asks for: the boot PCRs and the runtime measurement PCR.
    package static let selection = "sha256:0-7,15"

    /// `openStore`: opens the region store for the policy's region (`rctcb serve --store`); nil, the directory's SQLite
    /// IVT. `stepHook` is called after every evacuation and migration step, and when an enrolment's completion arrives;
    /// only tests pass one (through their own executable, `smig-rctcb-hooked`), never the product. `followChanges:
    /// false` leaves out LISTEN/NOTIFY (a follower then takes over at its next round); only tests that measure what it
    /// saves pass it, and only tests pass `enrolmentChallengeLifetime` (seconds; 60 in the product).
    package init(directory: RegionDirectory, regionFile: String, logger: Logger, prometheus: PrometheusCollectorRegistry? = nil,
                inventory: String? = nil, openStore: (@Sendable (_ region: String) async throws -> any RegionStore)? = nil,
                 lease: Duration = RCTCBRunner.defaultLease, holder: String? = nil, followChanges: Bool = true,
                 enrolmentChallengeLifetime: Double = 60, stepHook: (@Sendable (String) -> Void)? = nil) async throws {
        if openStore != nil, let inventory {
            throw RegionError(.storeInventoryFile, "--inventory \(inventory) given with --store: the store keeps the region's VM inventory",
                              hint: "leave out --inventory (`vm list --store URL --region FILE` reads the store's inventory)")
        }
        try directory.requireInitialised()
        // Before anything is written or listened on: one RC-TCB per directory.
        lock = try DirectoryLock(directory)
        let loaded = try LoadedRegionPolicy.load(regionFile)
        policy = loaded.policy
        var store: any RegionStore = if let openStore { try await openStore(policy.name) } else { try IVTStore(path: directory.database) }
        if let leases = store as? any RegionLeases {
            // Several RC-TCBs may share this store: writes only while leading, through the lease's fenced view.
            let fenced = LeaderFencedStore(base: leases, region: policy.name)
            leadership = RegionLeadership(store: fenced, leases: leases, holder: holder ?? Self.holder(), duration: lease, logger: logger)
            store = fenced
        } else {
            leadership = nil
        }
        try await store.seed(hosts: policy.hosts.map { ($0.id, $0.endpoint.address, $0.capacityVCPUs) }, policyName: policy.name,
                             policyDigest: loaded.digest, now: Date())
        let selection = try PCRSelectionList(parsing: Self.selection)
        // A direct challenge waits the policy's unreachable-timeout for the quote (silence that long is `unreachable`),
        // at most 10 s, so a silent host holds up neither the scheduler nor an evacuation for longer.
        let deadline = min(policy.unreachableTimeout, .seconds(10))
        let client = try RegionClient(caFile: directory.caCertificate, certificate: directory.serverCertificate, key: directory.serverKey, peer: .agent,
                                      timeout: max(TimeAmount(deadline), .milliseconds(1)))
        self.client = client
        region = RegionState(store: store, hosts: loaded.hosts, order: policy.ring.isEmpty ? policy.hosts.map(\.id) : policy.ring,
                             selection: selection, nonceLifetime: max(30, policy.challengeInterval.inSeconds * 2), logger: logger,
                             policyDigest: loaded.digest, challenger: { cfg, challenge in try await client.call(AgentRoutes.quote, at: "https://\(cfg.address):\(cfg.port)", challenge) })
        // The VM inventory: the store's when several RC-TCBs share it (the leader's writes fenced by its lease; the
        // agent hosts seeded unfenced, as the IVT's hosts are), else the directory's SQLite file.
        let vms: any VMInventoryStore, seeded: any VMInventoryStore, prefix: String
        if let leadership, let leases = store as? LeaderFencedStore {
            (vms, prefix) = try await leases.base.inventory(fencedBy: { [leadership] in leadership.lease })
            seeded = try await leases.base.inventory(fencedBy: nil).inventory
        } else {
            let file = try VMInventory(path: inventory ?? directory.inventory)
            (vms, seeded, prefix) = (file, file, try AgentOrderDriver.orderPrefix(directory: directory.path))
        }
        let tuning = Evacuator.tuning(policy.migration)
        let orchestrator = MigrationOrchestrator(
            inventory: vms, qemu: QEMUDriver(configuration: .init(tuning: tuning)),
            agent: try await Self.agentOrders(policy: policy, directory: directory, inventory: vms, seeding: seeded, prefix: prefix,
                                              client: client, tuning: tuning, logger: logger),
            transferTimeLimit: policy.migration.transferTimeLimit, logger: logger)
        evacuator = try Evacuator(region: region, orchestrator: orchestrator, policy: policy, logger: logger, stepHook: stepHook)
        var webhooks = WebhookNotifier(urls: policy.webhooks, store: store, key: try RegionSetup.loadServerKey(directory), region: policy.name, logger: logger)
        webhooks.leadership = leadership
        self.webhooks = webhooks
        let ekPins = Dictionary(policy.hosts.compactMap { h in h.ek.map { (h.id, $0) } }, uniquingKeysWith: { first, _ in first })
        service = try RCTCBService(directory: directory, region: region, ekPins: ekPins, enrolmentChallengeLifetime: enrolmentChallengeLifetime,
                                   stepHook: stepHook, logger: logger)
        service.evacuator = evacuator
        service.leadership = leadership
        reloader = PolicyReloader(region: region, loaded: loaded, logger: logger)
        service.reloader = reloader
        service.prometheus = prometheus
        service.intervals = RegionIntervals(measurement: policy.measurementInterval, challenge: policy.challengeInterval)
        self.logger = logger
        if followChanges, let leadership, let leases = store as? LeaderFencedStore {
            let base = leases.base
            changeFollower = RegionChangeFollower(changes: { base.changes() }, leadership: leadership, region: region, logger: logger)
        } else {
            changeFollower = nil
        }
    }

    /// How long a leader's lease lasts without renewal (`rctcb serve --lease`): a follower takes over at most this
    /// long (and a renewal round) after the leader died.
    package static let defaultLease = Duration.seconds(3)

    /// Who holds the lease, for logs and `GET /v1/health`: this process on this machine.
    static func holder() -> String {
        "rctcb pid \(getpid()) on \(ProcessInfo.processInfo.hostName)"
    }

    /// The driver that sends migration orders to the agents of the hosts whose VMs their agents move (`migrations:
    /// agent`), each recorded in the inventory as an ``MigrationHost/Kind/agent`` host (added when missing; its range
    /// of "ports" is `evacuation.max-parallel` slots, so as many moves into it run at once, added through `seeding`,
    /// which every RC-TCB of the region may write); nil when no host's do.
    static func agentOrders(policy: RegionPolicy, directory: RegionDirectory, inventory: any VMInventoryStore, seeding: any VMInventoryStore,
                            prefix: String, client: RegionClient, tuning: MigrationTuning, logger: Logger) async throws -> AgentOrderDriver? {
        let hosts = policy.hosts.filter { $0.migrations == .agent }
        guard !hosts.isEmpty else { return nil }
        let known = Dictionary(try await seeding.hosts().map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for h in hosts {
            if let host = known[h.id] {
                if host.kind != .agent {
                    logger.warning("the inventory records this host with another kind than the region policy's migrations: agent; its VMs move as the inventory says",
                                   metadata: ["attest.host": "\(h.id)", "attest.kind": "\(host.kind.rawValue)"])
                }
                continue
            }
            do {
                try await seeding.addHost(MigrationHost(name: h.id, kind: .agent, address: h.endpoint.address, portLow: 1024,
                                                        portHigh: 1023 + max(1, policy.evacuation.maxParallel), stateDirectory: "\(directory.path)/hosts/\(h.id)"))
            } catch let e as MigrationError where e.code == .alreadyExists {
                continue // another RC-TCB of the region added it meanwhile
            }
        }
        let agents = Dictionary(uniqueKeysWithValues: hosts.map { h in
            (h.id, "https://\(h.endpoint.address.contains(":") ? "[\(h.endpoint.address)]" : h.endpoint.address):\(h.endpoint.port)")
        })
        return AgentOrderDriver(client: client, agents: agents, inventory: inventory, prefix: prefix,
                                tuning: AgentOrderDriver.tuning(tuning), silenceLimit: policy.migration.agentSilenceLimit)
    }

    /// Connects the decision engine to the state changes the region commits.
    package func wire() async {
        let evacuator = self.evacuator
        if let leadership { await evacuator.follow(leadership) }
        await region.setStateObserver { host, old, new in await evacuator.stateChanged(host: host, old: old, new: new) }
    }

    /// `limits`: the listener's time-outs and connection cap per address (see ``ListenerLimits/rctcb``);
    /// `agentRequests`: how fast each agent certificate may call, `enrolmentRequests` how fast each peer address may ask
    /// to enrol (nil: no limit; see ``RequestBudget``).
    package func run(host: String, port: Int, limits: ListenerLimits = .rctcb, agentRequests: RequestBudget.Limit? = .agents,
                     enrolmentRequests: RequestBudget.Limit? = .enrolment,
                     onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        // The directory stays claimed until the service has stopped.
        defer { withExtendedLifetime(lock) {} }
        await wire()
        // A persistent connection per agent (and its direct challenges): N hosts need N descriptors and some.
        let needed = 2 * policy.hosts.count + 1024
        let limit = DescriptorLimit.raise(toAtLeast: needed)
        if limit < needed {
            logger.warning("open-file limit below what the region needs", metadata: ["attest.limit": "\(limit)", "attest.needed": "\(needed)"])
        }
        let scheduler = RegionScheduler(region: region, policy: policy, evacuator: evacuator, logger: logger, leadership: leadership)
        let hangUp = ReloadOnHangUp(reloader: reloader)
        var service = self.service
        service.agentRequests = RequestBudget(agentRequests)
        service.enrolmentRequests = RequestBudget(enrolmentRequests, metric: RequestBudget.enrolmentMetric)
        let app = try service.application(host: host, port: port, limits: limits, services: (leadership.map { [$0] } ?? []) + (changeFollower.map { [$0] } ?? [])
                                              + [scheduler, webhooks, hangUp],
                                          onRunning: onRunning)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do { try await group.run() } catch {
            await client.shutdown()
            throw Self.listenFailure(error, host: host, port: port) ?? error
        }
        await client.shutdown()
    }

    /// A listener that could not bind, as a coded error naming the address (nil for any other error).
    static func listenFailure(_ error: any Error, host: String, port: Int) -> RegionError? {
        switch ListenFailure(error) {
        case .addressInUse:
            return RegionError(.addressInUse, "cannot listen on \(host):\(port): another process is listening there "
                               + "(hint: stop it, or give rctcb serve another --port; --port 0 lets the system choose)")
        case .cannotListen(let reason):
            return RegionError(.cannotListen, "cannot listen on \(host):\(port): \(reason) (hint: --listen must be an address of this machine)")
        case nil:
            return nil
        }
    }
}
