import Yams

/// The sections of a region policy, each read on its own (`RegionPolicy.init(node:source:)` reads them in order).
extension RegionPolicy {
    /// `hosts:`. An error of one host does not hide the errors of the others: each is collected.
    static func hosts(_ top: Fields, source: PolicySource) throws(PolicyError) -> ([Host], [String: Node]) {
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
                                                           extraKeys: ["id", "golden", "capacity", "migrations", "boot-log"] + Self.ekPinKeys)
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
                if let n = fields["boot-log"] {
                    host.bootLog = try source.word(n, what: "boot-log of '\(id)'", BootLogRequirement.allCases.map { ($0.rawValue, $0) })
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
        if hostList.count < 2 {
            throw source.error(.badValue, at: top["hosts"], "hosts must list at least two hosts",
                               hint: "a ring needs two or more hosts; each host is watched by its neighbour")
        }
        return (hostList, idNodes)
    }

    /// `on-state:`, over the defaults; only what the RC-TCB carries out (``actionsCarriedOut``).
    static func actions(_ onState: Node?, source: PolicySource) throws(PolicyError) -> [State: Action] {
        var actions: [State: Action] = [.untrusted: .evacuate, .unreachable: .confirmThenEvacuate, .stale: .challenge,
                                         .rebooted: .reattest, .unknown: .challenge]
        let actionTable = Action.allCases.map { ($0.rawValue, $0) }
        if let onState {
            let fields = try source.mapping(onState, what: "on-state", allowed: State.allCases.map(\.rawValue))
            for (key, _, value) in fields.pairs {
                guard let state = State(rawValue: key) else { continue }
                let action = try source.word(value, what: "action for '\(key)'", actionTable)
                let carriedOut = Self.actionsCarriedOut[state] ?? []
                guard carriedOut.contains(action) else {
                    throw source.error(.actionNotCarriedOut, at: value, "the RC-TCB does not carry out '\(action.rawValue)' for '\(key)'",
                                       hint: action == .alert
                                           ? "every state change is already recorded in the audit trail and posted to the webhooks; write one of: \(carriedOut.map(\.rawValue).joined(separator: ", "))"
                                           : "for '\(key)' write one of: \(carriedOut.map(\.rawValue).joined(separator: ", "))")
                }
                actions[state] = action
            }
        }
        return actions
    }

    /// `targets:`.
    static func targets(_ targetsNode: Node?, quoteFreshness: Duration, hostIds: Set<String>,
                        source: PolicySource) throws(PolicyError) -> TargetRules {
        var targets = TargetRules(maxQuoteAge: quoteFreshness)
        if let targetsNode {
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
                    guard hostIds.contains(id) else {
                        throw source.error(.unknownHost, at: item, "targets.exclude names unknown host '\(id)'",
                                           hint: Self.hostSuggestion(id, Array(hostIds)))
                    }
                    targets.exclude.append(id)
                }
            }
            if let node = fields["prefer"] {
                targets.prefer = try source.word(node, what: "target preference",
                                                 TargetPreference.allCases.map { ($0.rawValue, $0) })
            }
        }
        return targets
    }

    /// `migration:`.
    static func migration(_ node: Node?, source: PolicySource) throws(PolicyError) -> MigrationSettings {
        var migration = MigrationSettings()
        if let node {
            let fields = try source.mapping(node, what: "migration",
                                            allowed: ["max-bandwidth-mibps", "downtime-limit", "multifd-channels", "auto-converge",
                                                      "agent-silence-limit", "transfer-time-limit"])
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
            if let n = fields["transfer-time-limit"] {
                migration.transferTimeLimit = try source.duration(n, what: "migration.transfer-time-limit")
                if migration.transferTimeLimit < .seconds(1) || migration.transferTimeLimit > .seconds(86_400) {
                    throw source.error(.badValue, at: n, "migration.transfer-time-limit must lie between 1s and 24h")
                }
            }
        }
        return migration
    }

    /// `evacuation:`.
    static func evacuation(_ node: Node?, source: PolicySource) throws(PolicyError) -> EvacuationSettings {
        var evacuation = EvacuationSettings()
        if let node {
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
        return evacuation
    }

    /// `webhooks:`: https URLs, or plain http on loopback.
    static func webhooks(_ node: Node?, source: PolicySource) throws(PolicyError) -> [String] {
        var webhooks: [String] = []
        if let node {
            for (url, item) in try source.stringList(node, what: "webhooks") {
                let loopback = ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]"].contains { url.hasPrefix($0) }
                guard url.hasPrefix("https://") || loopback, !url.contains(where: { $0.isWhitespace }) else {
                    throw source.error(.badValue, at: item, "webhook '\(url)' is not an https:// URL",
                                       hint: "plain http is accepted only on loopback (127.0.0.1, localhost, [::1])")
                }
                webhooks.append(url)
            }
        }
        return webhooks
    }
}
