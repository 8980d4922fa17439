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

    /// A host state that a policy can attach an action to.
    public enum State: String, Sendable, Hashable, CaseIterable {
        case unknown, untrusted, unreachable, stale, rebooted
    }

    /// What the RC-TCB does when a host enters a state.
    public enum Action: String, Sendable, Hashable, CaseIterable {
        /// Record only.
        case none
        /// Record and raise an alert.
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
        guard let index = ring.firstIndex(of: hostID) else { return nil }
        return ring[(index + 1) % ring.count]
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

        // Hosts. An error of one host does not hide the errors of the others: each is collected.
        var problems: [PolicyError] = []
        var hostList: [Host] = []
        var idNodes: [String: Node] = [:]
        var endpointOwner: [Endpoint: String] = [:]
        var pins: [(host: String, pin: EKPin, node: Node?)] = []
        let hostItems = try source.sequence(try top.required("hosts", hint: "list the region's hosts"), what: "hosts")
        if hostItems.isEmpty {
            throw source.error(.badValue, at: top["hosts"], "hosts must list at least two hosts",
                               hint: "a ring needs two or more hosts")
        }
        for item in hostItems {
            do throws(PolicyError) {
                let (endpoint, fields) = try Self.endpoint(item, what: "a host", source: source,
                                                           extraKeys: ["id", "golden", "capacity", "migrations"] + Self.ekPinKeys)
                let idNode = try fields.required("id", hint: "give each host a unique id")
                let id = try source.nonEmptyString(idNode, what: "host id")
                guard id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
                    throw source.error(.badValue, at: idNode, "host id '\(id)' has characters other than letters, digits, '-', '_', '.'")
                }
                if let first = idNodes[id] {
                    throw source.error(.duplicateHost, at: idNode, "duplicate host id '\(id)'",
                                       hint: "first declared at line \(first.mark?.line ?? 0); host ids must be unique")
                }
                if let owner = endpointOwner[endpoint] {
                    throw source.error(.duplicateHost, at: fields["address"],
                                       "host '\(id)' has the same address and port as '\(owner)'",
                                       hint: "two hosts cannot share \(endpoint.address):\(endpoint.port)")
                }
                idNodes[id] = idNode
                endpointOwner[endpoint] = id
                var host = Host(id: id, endpoint: endpoint)
                if let goldenNode = fields["golden"] {
                    let golden = try source.nonEmptyString(goldenNode, what: "golden")
                    if golden.split(separator: "/", omittingEmptySubsequences: false).contains("..") {
                        throw source.error(.pathOutsideRegion, at: goldenNode,
                                           "golden path '\(golden)' leaves the region file's directory",
                                           hint: "keep golden-values files beside the region file or in a directory below it")
                    }
                    host.golden = golden
                    host.goldenLine = goldenNode.mark?.line ?? 0
                    host.goldenColumn = goldenNode.mark?.column ?? 0
                }
                if let capacityNode = fields["capacity"] {
                    let capacity = try source.mapping(capacityNode, what: "capacity", allowed: ["vcpus", "memory-mib"])
                    host.capacityVCPUs = try capacity["vcpus"].map { node throws(PolicyError) in
                        try source.int(node, what: "vcpus", range: 1...65_536)
                    }
                    host.capacityMemoryMiB = try capacity["memory-mib"].map { node throws(PolicyError) in
                        try source.int(node, what: "memory-mib", range: 1...(1 << 40))
                    }
                }
                if let node = fields["migrations"] {
                    host.migrations = try source.word(node, what: "migrations", MigrationPath.allCases.map { ($0.rawValue, $0) })
                }
                host.ek = try Self.ekPin(fields, host: id, source: source)
                if let pin = host.ek { pins.append((id, pin, fields["ek-cert-sha256"] ?? fields["ek-name"])) }
                hostList.append(host)
            } catch {
                problems.append(error)
            }
        }
        if let error = PolicyError.combined(problems) { throw error }
        try Self.checkDistinctPins(pins, source: source)
        hosts = hostList
        if hosts.count < 2 {
            throw source.error(.badValue, at: top["hosts"], "hosts must list at least two hosts",
                               hint: "a ring needs two or more hosts; each host is watched by its neighbour")
        }

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

        // Actions.
        actions = [.untrusted: .evacuate, .unreachable: .confirmThenEvacuate, .stale: .challenge,
                   .rebooted: .reattest, .unknown: .challenge]
        let actionTable = Action.allCases.map { ($0.rawValue, $0) }
        if let onState = top["on-state"] {
            let fields = try source.mapping(onState, what: "on-state", allowed: State.allCases.map(\.rawValue))
            for (key, _, value) in fields.pairs {
                guard let state = State(rawValue: key) else { continue }
                actions[state] = try source.word(value, what: "action for '\(key)'", actionTable)
            }
        }

        // Target rules.
        targets = TargetRules(maxQuoteAge: quoteFreshness)
        if let targetsNode = top["targets"] {
            let fields = try source.mapping(targetsNode, what: "targets",
                                            allowed: ["require-state", "max-quote-age", "rechallenge-before-move",
                                                      "reattest-after-move", "exclude", "prefer"])
            if let state = fields["require-state"] {
                _ = try source.word(state, what: "target state", [("trusted", true)])
            }
            if let age = fields["max-quote-age"] {
                targets.maxQuoteAge = try source.duration(age, what: "targets.max-quote-age")
                if targets.maxQuoteAge > quoteFreshness {
                    throw source.error(.inconsistent, at: age, "targets.max-quote-age is longer than quote-freshness",
                                       hint: "a migration target's quote must be at least as fresh as any other")
                }
            }
            if let node = fields["rechallenge-before-move"] {
                targets.rechallengeBeforeMove = try source.bool(node, what: "rechallenge-before-move")
            }
            if let node = fields["reattest-after-move"] {
                targets.reattestAfterMove = try source.bool(node, what: "reattest-after-move")
            }
            if let node = fields["exclude"] {
                for (id, item) in try source.stringList(node, what: "targets.exclude") {
                    guard idNodes[id] != nil else {
                        throw source.error(.unknownHost, at: item, "targets.exclude names unknown host '\(id)'",
                                           hint: Self.hostSuggestion(id, Array(idNodes.keys)))
                    }
                    targets.exclude.append(id)
                }
            }
            if let node = fields["prefer"] {
                targets.prefer = try source.word(node, what: "target preference",
                                                 TargetPreference.allCases.map { ($0.rawValue, $0) })
            }
        }

        // Migration, evacuation, webhooks.
        if let node = top["migration"] {
            let fields = try source.mapping(node, what: "migration",
                                            allowed: ["max-bandwidth-mibps", "downtime-limit", "multifd-channels", "auto-converge",
                                                      "agent-silence-limit"])
            if let n = fields["max-bandwidth-mibps"] {
                migration.maxBandwidthMiBps = try source.int(n, what: "migration.max-bandwidth-mibps", range: 1...1_048_576)
            }
            if let n = fields["downtime-limit"] {
                migration.downtimeLimit = try source.duration(n, what: "migration.downtime-limit")
                if migration.downtimeLimit < .milliseconds(1) || migration.downtimeLimit > .seconds(60) {
                    throw source.error(.badValue, at: n, "migration.downtime-limit must lie between 1ms and 60s")
                }
            }
            if let n = fields["multifd-channels"] {
                migration.multifdChannels = try source.int(n, what: "migration.multifd-channels", range: 0...64)
            }
            if let n = fields["auto-converge"] { migration.autoConverge = try source.bool(n, what: "migration.auto-converge") }
            if let n = fields["agent-silence-limit"] {
                migration.agentSilenceLimit = try source.duration(n, what: "migration.agent-silence-limit")
                if migration.agentSilenceLimit < .seconds(1) || migration.agentSilenceLimit > .seconds(3600) {
                    throw source.error(.badValue, at: n, "migration.agent-silence-limit must lie between 1s and 1h")
                }
            }
        }
        if let node = top["evacuation"] {
            let fields = try source.mapping(node, what: "evacuation", allowed: ["max-parallel", "no-target", "silent-recovered", "executor"])
            if let n = fields["max-parallel"] { evacuation.maxParallel = try source.int(n, what: "evacuation.max-parallel", range: 1...64) }
            if let n = fields["no-target"] {
                evacuation.noTarget = try source.word(n, what: "evacuation.no-target", NoTarget.allCases.map { ($0.rawValue, $0) })
            }
            if let n = fields["silent-recovered"] {
                evacuation.silentRecovered = try source.word(n, what: "evacuation.silent-recovered", SilentRecovered.allCases.map { ($0.rawValue, $0) })
            }
            if let n = fields["executor"] { evacuation.executor = try Self.executor(n, source: source) }
        }
        if let node = top["webhooks"] {
            for (url, item) in try source.stringList(node, what: "webhooks") {
                let loopback = ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]"].contains { url.hasPrefix($0) }
                guard url.hasPrefix("https://") || loopback, !url.contains(where: { $0.isWhitespace }) else {
                    throw source.error(.badValue, at: item, "webhook '\(url)' is not an https:// URL",
                                       hint: "plain http is accepted only on loopback (127.0.0.1, localhost, [::1])")
                }
                webhooks.append(url)
            }
        }
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
