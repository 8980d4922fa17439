import Yams

/// A region: its hosts, the attestation ring, timing, and what each host state triggers.
///
/// ```yaml
/// kind: region
/// version: 1
/// name: region-east
/// rc-tcb: {address: 10.0.0.10, port: 8443}
/// hosts:
///   - {id: host-a, address: 10.0.0.11, port: 8443, golden: debian-12-xen-4.17.golden.yaml}
///   - {id: host-b, address: 10.0.0.12, port: 8443, golden: debian-12-xen-4.17.golden.yaml, boot-log: optional}
/// ring: [host-a, host-b, host-c]
/// intervals: {measurement: 30s, challenge: 60s}
/// quote-freshness: 180s
/// unreachable-timeout: 90s
/// on-state: {untrusted: evacuate, unreachable: confirm-then-evacuate, stale: challenge, rebooted: reattest}
/// targets: {require-state: trusted, max-quote-age: 60s, rechallenge-before-move: true}
/// ```
public struct RegionPolicy: Sendable, Hashable {
    public struct Endpoint: Sendable, Hashable {
        public var address: String
        public var port: Int
        public init(address: String, port: Int) {
            self.address = address
            self.port = port
        }
    }

    public struct Host: Sendable, Hashable {
        public var id: String
        public var endpoint: Endpoint
        /// The golden-values file that applies to this host, as written (relative to the region file's
        /// directory; see ``RegionPolicy/goldenPath(of:regionFile:allowAbsolute:)``).
        public var golden: String?
        /// Where `golden:` is written (line, column), for messages.
        public var goldenLine = 0
        public var goldenColumn = 0
        public var capacityVCPUs: Int?
        public var capacityMemoryMiB: Int?
        /// The EK this host must enrol with (`ek-cert-sha256:`, `ek-name:`), or nil: see ``EKPin``.
        public var ek: EKPin?
        /// How this host's VMs move (`migrations:`): by the RC-TCB's own drivers (`local`, the default) or by orders
        /// to the host's agent, which moves them with its VM manager (`agent`).
        public var migrations: MigrationPath = .local
        /// What a TPM reset of this host takes before it is trusted again (`boot-log:`).
        public var bootLog: BootLogRequirement = .required
        public init(id: String, endpoint: Endpoint, golden: String? = nil, capacityVCPUs: Int? = nil,
                    capacityMemoryMiB: Int? = nil) {
            self.id = id
            self.endpoint = endpoint
            self.golden = golden
            self.capacityVCPUs = capacityVCPUs
            self.capacityMemoryMiB = capacityMemoryMiB
        }
    }

    /// Who moves a host's VMs.
    public enum MigrationPath: String, Sendable, Hashable, CaseIterable {
        /// The RC-TCB itself, through its inventory's drivers (QEMU over QMP on its own machine, `xl`).
        case local
        /// The host's agent, on the RC-TCB's migration orders, with the host's VM manager (libvirt).
        case agent
    }

    /// What a host whose TPM was reset (a reboot) must show before it is trusted again (`boot-log:` on its entry).
    public enum BootLogRequirement: String, Sendable, Hashable, CaseIterable {
        /// Its TCG boot event log, replaying to the quoted boot PCRs (the default).
        case required
        /// Nothing more: a reset without a boot log is accepted (an audit event, `reboot-accepted`). A boot log
        /// that is sent must still replay. For hosts without measured boot.
        case optional
    }

    /// A host state that a policy can attach an action to.
    public enum State: String, Sendable, Hashable, CaseIterable {
        case unknown, untrusted, unreachable, stale, rebooted
    }

    /// What the RC-TCB does when a host enters a state.
    public enum Action: String, Sendable, Hashable, CaseIterable {
        /// Record only.
        case none
        /// Refused when a policy is read: every state change is already recorded and posted to the webhooks.
        case alert
        /// Challenge the host directly now.
        case challenge
        /// Re-run full attestation (after a reboot: new boot log, new PCRs).
        case reattest
        /// Migrate the host's VMs away now.
        case evacuate
        /// Challenge directly; evacuate if the host stays silent or fails.
        case confirmThenEvacuate = "confirm-then-evacuate"
    }

    public enum TargetPreference: String, Sendable, Hashable, CaseIterable {
        case leastLoaded = "least-loaded"
        case ringNext = "ring-next"
    }

    public struct TargetRules: Sendable, Hashable {
        /// Only hosts in this state may receive VMs (always `trusted` today; kept explicit for readers).
        public var requireTrusted: Bool = true
        public var maxQuoteAge: Duration
        public var rechallengeBeforeMove: Bool = true
        public var reattestAfterMove: Bool = true
        public var exclude: [String] = []
        public var prefer: TargetPreference = .leastLoaded
    }

    public var name: String
    public var rcTCB: Endpoint?
    public var hosts: [Host]
    /// Ring order: `ring[i]` challenges `ring[(i + 1) % ring.count]`.
    public var ring: [String]
    public var measurementInterval: Duration
    public var challengeInterval: Duration
    public var quoteFreshness: Duration
    public var unreachableTimeout: Duration
    public var actions: [State: Action]
    public var targets: TargetRules
    public var migration = MigrationSettings()
    public var evacuation = EvacuationSettings()
    /// Where state changes and evacuation steps are posted (JSON, signed by the RC-TCB).
    public var webhooks: [String] = []

    /// How live migrations run (`migration:`). Defaults are chosen for evacuation, not QEMU's own
    /// (128 MiB/s, 300 ms downtime).
    public struct MigrationSettings: Sendable, Hashable {
        /// MiB per second a migration may use.
        public var maxBandwidthMiBps: Int = 10_240
        public var downtimeLimit: Duration = .milliseconds(50)
        /// Parallel RAM channels (QEMU multifd); 0: one stream.
        public var multifdChannels: Int = 0
        /// Throttle guests that dirty memory faster than the link sends it.
        public var autoConverge: Bool = true
        /// How long a host's agent may go without answering while the RC-TCB orders it to move a VM (orders are sent
        /// again by their id meanwhile) before that move fails with `agent-silent`.
        public var agentSilenceLimit: Duration = .seconds(60)
        /// How long one VM's transfer may run before the RC-TCB cancels it (the VM keeps running on the source and the
        /// move fails with `transfer-time-limit`): a migration that never converges must not hold an evacuation.
        public var transferTimeLimit: Duration = .seconds(600)
        public init() {}
    }

    /// What to do with a VM when no trusted target can take it.
    public enum NoTarget: String, Sendable, Hashable, CaseIterable {
        case pause, keepRunning = "keep-running", shutdown
    }

    /// What happens to the VMs held paused on a host that was evacuated because it fell silent (`unreachable`)
    /// and later answered the RC-TCB's own challenge with evidence that verified `trusted`.
    public enum SilentRecovered: String, Sendable, Hashable, CaseIterable {
        /// The host leaves `evacuating` for `trusted`; its paused VMs run again where they are.
        case resumeInPlace = "resume-in-place"
        /// The host leaves `evacuating` for `trusted`; its paused VMs stay paused until the operator resumes them
        /// (the default: nobody watched that host while it was silent).
        case keepPaused = "keep-paused"
    }

    /// How evacuations run (`evacuation:`).
    public struct EvacuationSettings: Sendable, Hashable {
        /// VMs of one host moved at the same time.
        public var maxParallel: Int = 4
        public var noTarget: NoTarget = .pause
        public var silentRecovered: SilentRecovered = .keepPaused
        /// Hand-off to the fleet's own orchestrator (`evacuation.executor`): nil, the RC-TCB moves VMs itself.
        public var executor: Executor?
        public init() {}
    }

    /// The actions the RC-TCB carries out, per state; any other is refused when the policy is read
    /// (`policy.action-not-carried-out`), never parsed and ignored. `untrusted` and `unreachable` hosts are evacuated
    /// (`evacuate`, `confirm-then-evacuate`) or only recorded (`none`); `stale`, `unknown` and `rebooted` hosts are
    /// always challenged directly by the RC-TCB's scheduler, which `challenge` and `reattest` say. Whatever the
    /// action, every state change is recorded in the audit trail and posted to the webhooks (so `alert` is refused).
    public static let actionsCarriedOut: [State: [Action]] = [
        .untrusted: [.evacuate, .confirmThenEvacuate, .none], .unreachable: [.confirmThenEvacuate, .evacuate, .none],
        .stale: [.challenge], .unknown: [.challenge], .rebooted: [.reattest],
    ]
    /// The command the RC-TCB runs per VM instead of moving it itself, for fleets whose placement belongs to another
    /// manager (OpenStack Nova, oVirt, …): run without a shell, as `COMMAND… VM SOURCE TARGET`, after the target was
    /// challenged, with `SMIG_*` variables naming the same. There is no attest-before-resume gate in this mode: the
    /// other manager resumes the VM whenever it does.
    public struct Executor: Sendable, Hashable {
        /// The program (an absolute path) and its first arguments.
        public var command: [String]
        /// How long one run may take before it is killed.
        public var timeout: Duration = .seconds(600)
        public init(command: [String], timeout: Duration = .seconds(600)) {
            self.command = command
            self.timeout = timeout
        }
    }

    /// The host that `hostID` challenges (its ring successor).
    public func neighbour(of hostID: String) -> String? {
        ring.firstIndex(of: hostID).map { RingSuccession.successor(at: $0, step: 1, in: ring) }
    }

    static let kind = "region"
    static let topKeys = ["kind", "version", "name", "description", "rc-tcb", "hosts", "ring", "intervals",
                          "quote-freshness", "unreachable-timeout", "on-state", "targets", "migration", "evacuation", "webhooks"]

    public init(yaml text: String, file: String) throws(PolicyError) {
        let source = PolicySource(file: file)
        try self.init(node: try source.compose(text), source: source)
    }

    init(node: Node, source: PolicySource) throws(PolicyError) {
        let top = try source.mapping(node, what: "the region document", allowed: Self.topKeys)
        try PolicyDocument.checkHeader(top, expectedKind: Self.kind, source: source)
        name = try source.nonEmptyString(try top.required("name"), what: "name")
        if let description = top["description"] { _ = try source.string(description, what: "description") }
        rcTCB = try top["rc-tcb"].map { node throws(PolicyError) in
            try Self.endpoint(node, what: "rc-tcb", source: source, extraKeys: []).0
        }

        let (hostList, idNodes) = try Self.hosts(top, source: source)
        hosts = hostList

        // Ring: every host exactly once.
        let ringNode = try top.required("ring", hint: "list the host ids in ring order")
        ring = []
        for (id, item) in try source.stringList(ringNode, what: "ring") {
            guard idNodes[id] != nil else {
                throw source.error(.unknownHost, at: item, "ring names unknown host '\(id)'",
                                   hint: Self.hostSuggestion(id, Array(idNodes.keys)))
            }
            if ring.contains(id) {
                throw source.error(.badRing, at: item, "host '\(id)' appears twice in the ring",
                                   hint: "each host appears exactly once")
            }
            ring.append(id)
        }
        let ringOrder = ring
        let missing = hosts.map(\.id).filter { !ringOrder.contains($0) }
        if !missing.isEmpty {
            throw source.error(.badRing, at: ringNode, "the ring leaves out \(missing.joined(separator: ", "))",
                               hint: "every host must be in the ring, or nobody watches it")
        }

        // Timing.
        let intervals = try source.mapping(try top.required("intervals"), what: "intervals",
                                           allowed: ["measurement", "challenge"])
        measurementInterval = try source.duration(try intervals.required("measurement"), what: "intervals.measurement")
        challengeInterval = try source.duration(try intervals.required("challenge"), what: "intervals.challenge")
        let freshnessNode = try top.required("quote-freshness", hint: "the oldest quote age accepted, e.g. 180s")
        quoteFreshness = try source.duration(freshnessNode, what: "quote-freshness")
        unreachableTimeout = try source.duration(try top.required("unreachable-timeout"), what: "unreachable-timeout")
        if quoteFreshness < challengeInterval {
            throw source.error(.inconsistent, at: freshnessNode,
                               "quote-freshness is shorter than intervals.challenge, so every quote goes stale",
                               hint: "make quote-freshness at least the challenge interval")
        }

        actions = try Self.actions(top["on-state"], source: source)
        targets = try Self.targets(top["targets"], quoteFreshness: quoteFreshness, hostIds: Set(idNodes.keys), source: source)
        migration = try Self.migration(top["migration"], source: source)
        evacuation = try Self.evacuation(top["evacuation"], source: source)
        webhooks = try Self.webhooks(top["webhooks"], source: source)
    }

    /// The golden-values file of `host`, resolved inside the directory of the region file it came from.
    ///
    /// A relative path is joined to that directory (it cannot contain `..`: the decoder refuses it). An absolute
    /// path is refused unless `allowAbsolute` is set, so a region file cannot point a checker at any file on the
    /// host. Pure string work: no file is touched.
    public func goldenPath(of host: Host, regionFile: String, allowAbsolute: Bool = false) throws(PolicyError) -> String? {
        guard let golden = host.golden else { return nil }
        if golden.hasPrefix("/") {
            guard allowAbsolute else {
                throw PolicyError(.pathOutsideRegion, file: regionFile, line: host.goldenLine, column: host.goldenColumn,
                                  message: "golden path '\(golden)' of host '\(host.id)' is absolute",
                                  hint: "write it relative to the region file, or pass --allow-absolute-golden")
            }
            return golden
        }
        guard let slash = regionFile.lastIndex(of: "/") else { return golden }
        return String(regionFile[...slash]) + golden
    }

    /// `evacuation.executor: {command: [/ABSOLUTE/PROGRAM, ARG…], timeout: DURATION}`.
    static func executor(_ node: Node, source: PolicySource) throws(PolicyError) -> Executor {
        let fields = try source.mapping(node, what: "evacuation.executor", allowed: ["command", "timeout"])
        let commandNode = try fields.required("command", hint: "a list: the program's absolute path, then its arguments (no shell)")
        let words = try source.stringList(commandNode, what: "evacuation.executor.command")
        guard let (program, programNode) = words.first else {
            throw source.error(.badValue, at: commandNode, "evacuation.executor.command is empty", hint: "name the program by its absolute path")
        }
        guard program.hasPrefix("/") else {
            throw source.error(.badValue, at: programNode, "evacuation.executor.command must start with an absolute path, not '\(program)'",
                               hint: "the RC-TCB runs it without a shell or PATH lookup")
        }
        for (word, wordNode) in words where word.isEmpty || word.contains("\0") {
            throw source.error(.badValue, at: wordNode, "evacuation.executor.command has an empty or NUL-holding word")
        }
        var executor = Executor(command: words.map(\.0))
        if let t = fields["timeout"] {
            executor.timeout = try source.duration(t, what: "evacuation.executor.timeout")
            if executor.timeout < .seconds(1) || executor.timeout > .seconds(86_400) {
                throw source.error(.badValue, at: t, "evacuation.executor.timeout must lie between 1s and 24h")
            }
        }
        return executor
    }

    static func hostSuggestion(_ id: String, _ known: [String]) -> String {
        let hint = PolicySource.suggestion(for: id, among: known.sorted())
        return hint.hasPrefix("did") ? hint : "declared hosts: " + known.sorted().joined(separator: ", ")
    }

    static func endpoint(_ node: Node, what: String, source: PolicySource,
                         extraKeys: [String]) throws(PolicyError) -> (Endpoint, Fields) {
        let fields = try source.mapping(node, what: what, allowed: ["address", "port"] + extraKeys)
        let addressNode = try fields.required("address", hint: "an IP address or host name")
        let address = try source.nonEmptyString(addressNode, what: "address")
        let allowed: (Character) -> Bool = { $0.isASCII && ($0.isLetter || $0.isNumber || ".-:[]".contains($0)) }
        guard address.allSatisfy(allowed), address.utf8.count <= 253 else {
            throw source.error(.badValue, at: addressNode, "'\(address)' is not an IP address or host name",
                               hint: "write e.g. 10.0.0.11, fd00::11 or host-a.example")
        }
        let port = try source.int(try fields.required("port", hint: "the agent's TLS port, e.g. 8443"),
                                  what: "port", range: 1...65_535)
        return (Endpoint(address: address, port: port), fields)
    }
}
