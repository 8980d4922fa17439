package import ArgumentParser
package import Foundation
import RegionProtocol
package import RegionTCB

/// Where the operator's client finds the RC-TCB and its admin identity: each flag, else its environment variable,
/// else the operator's configuration file (``OperatorSettings``).
struct AdminOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The RC-TCB's URL, https://HOST:PORT, or the region's RC-TCBs separated by commas (the leader is asked) (else $SMIG_ATTEST_RCTCB, else 'rctcb:' in the config file, else https://127.0.0.1:8443).",
                               valueName: "url")) var rctcb: String?
    @Option(help: ArgumentHelp("The RC-TCB directory holding admin.pem, admin.key and region-ca.pem (else $SMIG_ATTEST_DIR, else 'dir:' in the config file).",
                               valueName: "dir")) var dir: String?
    @Option(help: ArgumentHelp("The region CA certificate (else $SMIG_ATTEST_CA, else 'ca:' in the config file, else DIR/region-ca.pem).",
                               valueName: "file")) var ca: String?
    @Option(help: ArgumentHelp("The admin client certificate (else $SMIG_ATTEST_CERT, else 'cert:' in the config file, else DIR/admin.pem).",
                               valueName: "file")) var cert: String?
    @Option(help: ArgumentHelp("The admin client key (else $SMIG_ATTEST_KEY, else 'key:' in the config file, else DIR/admin.key).",
                               valueName: "file")) var key: String?

    /// The RC-TCB's URL and the CA, certificate and key files in effect.
    func resolved() throws -> (rctcb: String, ca: String, certificate: String, key: String) {
        let settings = try OperatorSettings()
        let rctcb = settings.value(.rctcb, flag: rctcb) ?? "https://127.0.0.1:8443"
        let files = [(OperatorSettings.Key.ca, ca), (.cert, cert), (.key, key)].map { settings.value($0.0, flag: $0.1) }
        let directory = settings.value(.dir, flag: dir)
        if let ca = files[0], let certificate = files[1], let key = files[2] { return (rctcb, ca, certificate, key) }
        guard let directory else {
            throw CommandFailure("config.no-directory: no RC-TCB directory: give --dir, $SMIG_ATTEST_DIR or 'dir:' in the config file "
                                 + "(\(settings.file ?? "none found: " + OperatorSettings.searchText)) (hint: the directory rctcb init "
                                 + "made, or a copy of its admin.pem, admin.key and region-ca.pem; or give --ca, --cert and --key)", exitCode: 2)
        }
        let d = RegionDirectory(directory)
        if files.allSatisfy({ $0 == nil }) { try d.requireAdminIdentity() }
        return (rctcb, files[0] ?? d.caCertificate, files[1] ?? d.adminCertificate, files[2] ?? d.adminKey)
    }

    /// Runs `body` with an admin-certificate client of the RC-TCB and its base URL (of several, the leader's);
    /// the client is shut down (awaited) when `body` returns or throws.
    func withClient<T>(_ body: (RegionClient, String) async throws -> T) async throws -> T {
        let (rctcb, ca, certificate, key) = try resolved()
        let endpoints = try RCTCBEndpoints(rctcb)
        let client = try RegionClient(caFile: ca, certificate: certificate, key: key, peer: .rctcb, failFast: true)
        do {
            let base = endpoints.urls.count == 1 ? endpoints.base : await Self.leader(endpoints.urls, client)
            let value = try await body(client, base)
            await client.shutdown()
            return value
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Calls one of the RC-TCB's routes with a client of ``withClient(_:)``.
    func call<Request, Answer>(_ route: RegionRoute<Request, Answer>, _ body: Request, parameters: [String: String] = [:],
                               query: String? = nil) async throws -> Answer {
        try await withClient { client, base in try await client.call(route, at: base, body, parameters: parameters, query: query) }
    }

    /// Calls one of the RC-TCB's routes whose request has no body.
    func call<Answer>(_ route: RegionRoute<NoBody, Answer>, parameters: [String: String] = [:], query: String? = nil) async throws -> Answer {
        try await call(route, NoBody(), parameters: parameters, query: query)
    }
}

extension AdminOptions {
    /// What `GET /v1/health` says of an RC-TCB's part in its region's leadership (nothing: the region's only one).
    struct Health: Decodable {
        var role: String?
    }

    /// The first of `urls` whose RC-TCB leads (or is its region's only one); the first URL when none answers so,
    /// whose answer then says why (`rctcb.not-leader`, `transport.unreachable`).
    static func leader(_ urls: [String], _ client: RegionClient) async -> String {
        for url in urls {
            if let health = try? await client.get("\(url)/v1/health", as: Health.self), health.role == nil || health.role == "leader" { return url }
        }
        return urls[0]
    }
}

/// `smig-attest ivt`.
package struct IVTCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "ivt",
        abstract: "Show the integrity validation table: each host's state, last quote age, who measured it, failure code.")

    @OptionGroup var admin: AdminOptions
    @Flag(help: "Refresh every second until interrupted (on a terminal the screen is redrawn; into a pipe each table follows a dated line).")
    var watch = false
    @Flag(help: "Do not cut the DETAIL column on a terminal (it is never cut when the output is not a terminal).") var wide = false
    @OptionGroup var output: OutputOptions

    package init() {}

    package func run() async throws {
        try await Output.reportingAsync {
            let terminal = isatty(1) != 0
            try await admin.withClient { client, base in
                repeat {
                    let rows = try await client.call(OperatorRoutes.ivt, at: base)
                    if output.json { Output.json(rows) } else {
                        if watch { Output.line(Self.watchHeader(Date(), terminal: terminal)) }
                        Output.line(Self.render(rows, now: Date(), terminal: terminal, wide: wide))
                    }
                    if watch { try await Task.sleep(for: .seconds(1)) }
                } while watch
            }
        }
    }

    /// What precedes each table under `--watch`: on a terminal, clear the screen and the time; into a pipe or a
    /// file, a plain dated line (no terminal escapes).
    package static func watchHeader(_ now: Date, terminal: Bool) -> String {
        let stamp = now.formatted(.iso8601)
        return terminal ? "\u{1B}[2J\u{1B}[H" + stamp : "--- \(stamp)"
    }

    /// The table. On a terminal states are coloured and DETAIL is cut to 80 characters (unless `wide`); into a pipe
    /// or a file neither: a script or a log gets the whole reason.
    package static func render(_ rows: [IVTRow], now: Date, terminal: Bool, wide: Bool = false) -> String {
        func paint(_ s: HostState) -> String {
            guard terminal else { return s.rawValue }
            let code = switch s {
            case .trusted: "32"
            case .untrusted, .evacuating: "31"
            case .unreachable, .stale, .rebooted: "33"
            default: "0"
            }
            return "\u{1B}[\(code)m\(s.rawValue)\u{1B}[0m"
        }
        func detail(_ text: String) -> String {
            guard terminal, !wide, text.count > 80 else { return text }
            return String(text.prefix(79)) + "…"
        }
        return Output.table(["HOST", "STATE", "QUOTE AGE", "MEASURED BY", "CODE", "DETAIL"], rows.map { r in
            [r.host, paint(r.state), r.lastQuoteAt.map { "\(Int(now.timeIntervalSince($0) * 1000)) ms" } ?? "-", r.measuredBy ?? "-",
             r.failureCode ?? "-", detail(r.failureDetail ?? "")]
        })
    }
}

/// `smig-attest ring`.
package struct RingCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(commandName: "ring", abstract: "Show who measures whom in the attestation ring.")

    @OptionGroup var admin: AdminOptions
    @OptionGroup var output: OutputOptions

    package init() {}

    package func run() async throws {
        try await Output.reportingAsync {
            let view = try await admin.call(OperatorRoutes.ring)
            if output.json { Output.json(view); return }
            Output.line("rotation \(view.rotation)")
            for l in view.links { Output.line("  \(l.measurer) → \(l.target)") }
            if !view.excluded.isEmpty { Output.line("not measuring: \(view.excluded.joined(separator: ", "))") }
        }
    }
}

/// `smig-attest events`.
package struct EventsCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show the RC-TCB's audit events (state changes, enrolments, accepted reboots, renewals, refused reports and enrolments), of all hosts or one.",
        discussion: """
        Refusals are aggregated: refused reports (report-refused) and refused enrolments (enrol-refused) of one host \
        with one code within a minute of the first are one event with a count (shown as ×N, with the time of the \
        last). Enrolments refused with a host id that is not in the region (enrol.unknown-host, enrol.bad-host-id) or \
        with a challenge id this RC-TCB did not seal (enrol.unknown-challenge) have no host: they are one event \
        whatever ids were sent, and its detail names the latest. --host shows one host's events only (not those). \
        With --json: one JSON array of every event; with --follow, JSON Lines (one event per line). --follow keeps \
        going when the RC-TCB restarts or cannot be reached for a while, and resumes after the last event it printed.
        """)

    @OptionGroup var admin: AdminOptions
    @Option(help: "Only events after this sequence number.") var since: Int64 = 0
    @Option(help: ArgumentHelp("Only the events of this host.", valueName: "host")) var host: String?
    @Flag(help: "Keep printing new events until interrupted.") var follow = false
    @OptionGroup var output: OutputOptions

    package init() {}

    package func validate() throws {
        if let host, !HostID.isValid(host) {
            throw ValidationError("--host '\(host.prefix(64))' is not a host id (lower-case letters, digits, '.', '_' and '-')")
        }
    }

    package func run() async throws {
        try await Output.reportingAsync {
            try await admin.withClient { client, base in
                var last = since
                let only = host.map { "&host=\($0)" } ?? ""   // a host id needs no escaping (validate)
                var all: [IVTEvent] = []
                var unreachable = false
                while true {
                    let events: [IVTEvent]
                    do { events = try await client.call(OperatorRoutes.events, at: base, query: "since=\(last)\(only)") } catch let failure as RegionClient.Failure where follow && failure.code.hasPrefix("transport.") {
                        // The RC-TCB restarts or the network is down: try again, from the last event printed.
                        if !unreachable { Output.stderr("smig-attest: \(failure.description); retrying\n") }
                        unreachable = true
                        try await Task.sleep(for: .seconds(1))
                        continue
                    }
                    unreachable = false
                    for e in events {
                        if !output.json { Output.line(Self.render(e)) } else if follow { Output.jsonLine(e) } else { all.append(e) }
                        last = max(last, e.seq)
                    }
                    // Without --follow: every page (the route answers at most a page at a time), then stop.
                    if !follow, events.isEmpty { break }
                    if follow { try await Task.sleep(for: .milliseconds(500)) }
                }
                if output.json, !follow { Output.json(all) }
            }
        }
    }

    /// One event as a text line; an aggregated one with its count and the time of the last.
    static func render(_ e: IVTEvent) -> String {
        let change = e.oldState.map { "\($0) → \(e.newState ?? "")" } ?? ""
        let count = e.count > 1 ? "  ×\(e.count) (last \(e.lastAt.map { "\($0)" } ?? "-"))" : ""
        return "\(e.seq)  \(e.at)  \(e.host ?? "-")  \(e.kind)  \(change)  \(e.code ?? "")  \(e.detail ?? "")\(count)"
    }
}
