package import Attestation
package import Foundation
package import Logging
package import Policy
import CoreMetrics
package import RegionProtocol
package import TPMWire

extension RegionError.Code {
    package static let notAssigned = Self(rawValue: "report.not-assigned")
    package static let nonceUnknown = Self(rawValue: "report.nonce-unknown")
    package static let reporterNotTrusted = Self(rawValue: "report.reporter-not-trusted")
    package static let malformedReport = Self(rawValue: "report.malformed")
}

/// The RC-TCB's region logic: the ring (who measures whom, rotated), the nonces it issues for each
/// (reporter, target) pair, and report intake that re-verifies every piece of evidence itself before the IVT
/// changes. A claim alone ("no answer", or evidence that does not verify) is confirmed by the RC-TCB's own
/// direct challenge.
package actor RegionState {
    package struct HostConfig: Sendable {
        package var id: String
        package var address: String
        package var port: Int
        package var golden: GoldenValues?

        package init(id: String, address: String, port: Int, golden: GoldenValues?) {
            self.id = id
            self.address = address
            self.port = port
            self.golden = golden
        }
    }

    struct IssuedNonce {
        var reporter: String
        var target: String
        var issued: Date
    }

    package let store: IVTStore
    let hosts: [String: HostConfig]
    /// Ring order from the region policy.
    let order: [String]
    package let selection: PCRSelectionList
    package let nonceLifetime: TimeInterval
    let logger: Logger
    var nonces: [String: IssuedNonce] = [:]
    var noncesPrunedAt = Date.distantPast
    var rotation = 0
    var offset = 1
    /// Told of every state change (host, old, new) after it is committed; never awaited by the verdict.
    var stateObserver: (@Sendable (String, HostState?, HostState) async -> Void)?
    /// Direct challenges (RC-TCB → agent). Set by the service once its client exists.
    var challenger: (@Sendable (HostConfig, QuoteChallenge) async throws -> EvidenceBundle)?
    let metrics = RegionMetrics()

    package init(store: IVTStore, hosts: [HostConfig], order: [String], selection: PCRSelectionList, nonceLifetime: TimeInterval, logger: Logger) {
        self.store = store
        self.hosts = Dictionary(uniqueKeysWithValues: hosts.map { ($0.id, $0) })
        self.order = order
        self.selection = selection
        self.nonceLifetime = nonceLifetime
        self.logger = logger
    }

    package func setStateObserver(_ o: @escaping @Sendable (String, HostState?, HostState) async -> Void) {
        stateObserver = o
    }

    /// A host's configuration from the region policy.
    package func config(_ host: String) -> HostConfig? { hosts[host] }

    package func setChallenger(_ c: @escaping @Sendable (HostConfig, QuoteChallenge) async throws -> EvidenceBundle) {
        challenger = c
    }

    // MARK: Ring

    /// The IVT rows as last read: ring assignments read this snapshot, not the database, so a request costs no
    /// table scan. It is re-read after every change this actor makes and by the scheduler (revocations and
    /// enrolments arrive from other processes and from the enrolment service).
    var snapshot: [String: IVTRow] = [:]
    var snapshotTaken = Date.distantPast
    var ringCache: RingCache?
    /// The last audit event seen by ``refresh`` (-1: unknown).
    var snapshotSeq: Int64 = -1
    /// Hosts per state in ``snapshot`` (the state gauges).
    var stateCounts: [HostState: Int] = [:]
    /// Enrolled AKs, parsed once: by host, with the AK Name they were read for (a new enrolment has a new Name).
    var enrolledKeys: [String: (akName: String, key: AttestationKey)] = [:]

    /// Re-reads the IVT rows (and the state gauges) when the audit trail has grown since the last read: every
    /// change of state, enrolment, revocation or readmission — from this process or another — is an audit
    /// event, and the verdicts that change nothing else are mirrored into the snapshot by ``apply``.
    package func refresh(now: Date = Date()) {
        let seq = try? store.lastEventSeq()
        if let seq, seq == snapshotSeq, !snapshot.isEmpty {
            snapshotTaken = now
            return
        }
        guard let rows = try? store.rows() else { return }
        snapshot = Dictionary(rows.map { ($0.host, $0) }, uniquingKeysWith: { a, _ in a })
        snapshotTaken = now
        snapshotSeq = seq ?? -1
        stateCounts = rows.reduce(into: [:]) { $0[$1.state, default: 0] += 1 }
        metrics.record(counts: stateCounts)
    }

    func rowsSnapshot() -> [String: IVTRow] {
        if snapshot.isEmpty || Date().timeIntervalSince(snapshotTaken) > 1 { refresh() }
        return snapshot
    }

    /// The IVT rows as this RC-TCB knows them (re-read when the audit trail grew): the scheduler, the evacuator
    /// and the admin API read these instead of scanning the table.
    package func rows() -> [IVTRow] {
        rowsSnapshot().values.sorted { $0.host < $1.host }
    }

    /// Admits an agent's request: its certificate's host is enrolled with the certificate's AK Name and not
    /// revoked. Checked against the table as it is now (a revocation by another process counts at once).
    package func admitAgent(_ host: String, akName: String?) throws(RegionError) {
        refresh()
        guard let row = snapshot[host], let enrolled = row.akName, !row.revoked else {
            throw RegionError(.revoked, "host \(host) is revoked or not enrolled")
        }
        guard enrolled == akName else {
            throw RegionError(.akChanged, "the certificate names AK \(akName ?? "-"), host \(host) is enrolled with \(enrolled)")
        }
    }

    /// What a verification of `host` needs from the IVT: its enrolled AK (parsed once per enrolment) and its row
    /// (the clock of its last verified quote), as of now. No key when it is not enrolled or revoked.
    func verificationInputs(_ host: String) -> (key: AttestationKey?, row: IVTRow?) {
        refresh()
        guard let row = snapshot[host] else { return (nil, nil) }
        guard let akName = row.akName, !row.revoked else { return (nil, row) }
        if let cached = enrolledKeys[host], cached.akName == akName { return (cached.key, row) }
        guard let enrolment = try? store.enrolment(host), enrolment.akName == akName, !enrolment.revoked,
              let key = try? AttestationKey(tpm2bPublic: enrolment.akPublic) else { return (nil, row) }
        enrolledKeys[host] = (akName, key)
        return (key, row)
    }

    /// Hosts in the ring: enrolled and not revoked, in policy order.
    func members() -> [String] {
        let rows = rowsSnapshot()
        return order.filter { rows[$0].map { $0.akName != nil && !$0.revoked } ?? false }
    }

    /// The current links: each trusted member measures the member `offset` places after it. Computed once per
    /// IVT snapshot and ring rotation (every assignment asks for it).
    package func ringView() -> RingView {
        let rows = rowsSnapshot()
        if let cached = ringCache, cached.matches(snapshotSeq, rotation, offset) { return cached.view }
        let view = computeRingView(rows)
        ringCache = RingCache(view: view, snapshotSeq: snapshotSeq, rotation: rotation, offset: offset)
        metrics.ringLinks.record(view.links.count)
        return view
    }

    func computeRingView(_ rows: [String: IVTRow]) -> RingView {
        let m = members()
        let states = rows.mapValues(\.state)
        let memberSet = Set(m)
        guard m.count >= 2 else { return RingView(rotation: rotation, links: [], excluded: order.filter { !memberSet.contains($0) }) }
        let k = offset % m.count == 0 ? 1 : offset % m.count
        var links: [RingView.Link] = []
        var excluded: [String] = order.filter { !memberSet.contains($0) }
        for (i, h) in m.enumerated() {
            guard states[h] == .trusted else { excluded.append(h); continue }
            links.append(.init(measurer: h, target: m[(i + k) % m.count]))
        }
        return RingView(rotation: rotation, links: links, excluded: excluded)
    }

    /// Rotates the ring: a new offset, never the reverse of the old one (so nobody measures its former measurer)
    /// when the ring is large enough for that.
    package func rotate() {
        let n = members().count
        guard n >= 3 else { return }
        let old = offset % n == 0 ? 1 : offset % n
        var k = old
        for step in 1..<n {
            let candidate = (old - 1 + step) % (n - 1) + 1
            if candidate != old, (candidate + old) % n != 0 { k = candidate; break }
        }
        if k != old {
            offset = k
            rotation += 1
            logger.info("ring rotated", metadata: ["attest.rotation": "\(rotation)", "attest.offset": "\(k)"])
        }
    }

    /// The reporter's current duty, with a fresh nonce issued for that pair.
    package func assignment(for reporter: String, now: Date = Date()) throws(RegionError) -> RingAssignment {
        _ = ringView()
        guard let target = ringCache?.targets[reporter], let cfg = hosts[target] else {
            return RingAssignment()
        }
        let nonce = issueNonce(reporter: reporter, target: target, now: now)
        return RingAssignment(target: target, address: cfg.address, port: cfg.port, nonce: nonce, pcrSelection: selection.description,
                              validUntil: now.addingTimeInterval(nonceLifetime))
    }

    func issueNonce(reporter: String, target: String, now: Date) -> String {
        // Expired nonces are dropped once a second, not on every issue (thousands are open under load).
        if now.timeIntervalSince(noncesPrunedAt) >= 1 {
            nonces = nonces.filter { now.timeIntervalSince($0.value.issued) < nonceLifetime }
            noncesPrunedAt = now
        }
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<4).flatMap { _ in withUnsafeBytes(of: rng.next() as UInt64) { Array($0) } }
        let hex = Hex.encode(bytes)
        nonces[hex] = IssuedNonce(reporter: reporter, target: target, issued: now)
        return hex
    }

    // MARK: Intake

    /// A ring report. The reporter must be trusted and assigned to the target; the nonce must have been issued
    /// for this pair and is spent now; the evidence is verified here against the target's enrolled AK. The answer
    /// carries the reporter's next assignment (a fresh nonce for its current target), as ``assignment(for:now:)``
    /// would give it.
    package func intake(_ report: AIMReport, from reporter: String, now: Date = Date()) async throws(RegionError) -> ReportResult {
        var result = try await verdict(on: report, from: reporter, now: now)
        let next = try assignment(for: reporter, now: Date())
        result.next = next.target == nil ? nil : next
        return result
    }

    func verdict(on report: AIMReport, from reporter: String, now: Date) async throws(RegionError) -> ReportResult {
        guard let reporterRow = rowsSnapshot()[reporter], reporterRow.state == .trusted else {
            throw RegionError(.reporterNotTrusted, "host \(reporter) is not trusted: its reports are not taken")
        }
        guard let issued = nonces[report.nonce], now.timeIntervalSince(issued.issued) < nonceLifetime else {
            throw RegionError(.nonceUnknown, "nonce \(report.nonce.prefix(16))… was not issued by this RC-TCB, is spent or expired")
        }
        guard issued.reporter == reporter, issued.target == report.target else {
            throw RegionError(.notAssigned, "the nonce was issued for \(issued.reporter) → \(issued.target), not \(reporter) → \(report.target)")
        }
        nonces[report.nonce] = nil
        guard let cfg = hosts[report.target], let nonce = Hex.decode(report.nonce) else {
            throw RegionError(.malformedReport, "unknown target or nonce")
        }
        switch report.outcome {
        case .noAnswer:
            logger.info("neighbour reports no answer; confirming directly", metadata: ["attest.host": "\(report.target)", "attest.reporter": "\(reporter)"])
            return await challengeDirectly(cfg, reason: "reported silent by \(reporter)", now: now)
        case .evidence:
            guard let evidence = report.evidence else { throw RegionError(.malformedReport, "outcome evidence without evidence") }
            // Verified off the actor: signatures and log replays of many reports run in parallel; the nonce was
            // spent above and the IVT is written below, on the actor.
            let judged = await judgeConcurrently(cfg, evidence, verificationInputs(cfg.id), nonce: nonce, measuredBy: reporter, now: now)
            if case .refuted(let code, let detail) = judged {
                // Evidence that does not verify may be the reporter's doing: the target is challenged directly.
                logger.warning("report evidence refused; confirming directly", metadata: ["attest.host": "\(report.target)", "attest.reporter": "\(reporter)", "attest.code": "\(code)", "attest.reason": "\(detail)"])
                try store.audit(host: report.target, kind: "report-refused", code: code, detail: "from \(reporter): \(detail)", now: now)
                return await challengeDirectly(cfg, reason: "evidence from \(reporter) refused", now: now)
            }
            return try apply(judged, to: cfg.id, now: now)
        }
    }

    /// A host says its measurements changed: challenge it now.
    package func noticeReceived(_ notice: ChangeNotice, from host: String) async {
        guard let cfg = hosts[host] else { return }
        _ = await challengeDirectly(cfg, reason: "change notice: \(notice.changed.prefix(5).joined(separator: ", "))", now: Date())
    }

    /// The RC-TCB's own challenge: its nonce, its verification. Silence → `unreachable`.
    @discardableResult
    package func challengeDirectly(_ cfg: HostConfig, reason: String, now: Date) async -> ReportResult {
        guard let challenger else { return ReportResult(target: cfg.id, state: "unknown", detail: "no challenger configured") }
        let nonceHex = issueNonce(reporter: "rc-tcb", target: cfg.id, now: now)
        nonces[nonceHex] = nil
        let nonce = Hex.decode(nonceHex) ?? []
        let bundle: EvidenceBundle
        do {
            bundle = try await challenger(cfg, QuoteChallenge(nonce: nonceHex, pcrSelection: selection.description))
        } catch {
            return (try? apply(.silent("\(error)"), to: cfg.id, now: Date())) ?? ReportResult(target: cfg.id, state: "unreachable")
        }
        let judged = judge(cfg, bundle, verificationInputs(cfg.id), nonce: nonce, measuredBy: "rc-tcb", now: Date())
        return (try? apply(judged, to: cfg.id, now: Date())) ?? ReportResult(target: cfg.id, state: "unknown", detail: "IVT write failed")
    }

    // MARK: Judgement

    enum Judgement {
        case trusted(VerifiedQuote, measuredBy: String)
        /// The TPM was reset or restarted since the last quote, or was and its boot log has not replayed yet.
        case rebooted(VerifiedQuote, measuredBy: String, code: String, detail: String)
        /// Genuine evidence (pinned AK, our nonce) of a bad state.
        case untrusted(VerifiedQuote?, measuredBy: String, code: String, detail: String)
        /// The evidence itself does not verify: it proves nothing about the target.
        case refuted(code: String, detail: String)
        case silent(String)
    }

    /// The IVT's side of a verification: the target's enrolled AK and its row, as read on the actor.
    typealias Inputs = (key: AttestationKey?, row: IVTRow?)

    nonisolated func judgeConcurrently(_ cfg: HostConfig, _ bundle: EvidenceBundle, _ inputs: Inputs, nonce: [UInt8], measuredBy: String, now: Date) async -> Judgement {
        judge(cfg, bundle, inputs, nonce: nonce, measuredBy: measuredBy, now: now)
    }

    nonisolated func judge(_ cfg: HostConfig, _ bundle: EvidenceBundle, _ inputs: Inputs, nonce: [UInt8], measuredBy: String, now: Date) -> Judgement {
        let started = ContinuousClock.now
        let j = judgeUntimed(cfg, bundle, inputs, nonce: nonce, measuredBy: measuredBy, now: now)
        let elapsed = ContinuousClock.now - started
        metrics.latency.recordNanoseconds(elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000)
        switch j {
        case .trusted, .rebooted: metrics.verified.increment()
        case .untrusted(_, _, let code, _), .refuted(let code, _): metrics.refused.increment(); metrics.failure(code)
        case .silent: metrics.failure("host.unreachable")
        }
        return j
    }

    nonisolated func judgeUntimed(_ cfg: HostConfig, _ bundle: EvidenceBundle, _ inputs: Inputs, nonce: [UInt8], measuredBy: String, now: Date) -> Judgement {
        guard let ak = inputs.key else {
            return .refuted(code: "enrol.not-enrolled", detail: "\(cfg.id) has no enrolled AK")
        }
        guard bundle.hostId == cfg.id else {
            return .refuted(code: "evidence.host-mismatch", detail: "the bundle names host '\(bundle.hostId)', not \(cfg.id)")
        }
        let row = inputs.row
        var previous: ClockObservation?
        if let row, let c = row.tpmClock, let r = row.resetCount, let s = row.restartCount {
            previous = ClockObservation(clock: c, resetCount: r, restartCount: s)
        }
        let verdict = bundle.verify(pinnedAK: .publicArea(ak), freshness: .nonce(nonce), selection: selection, previous: previous)
        let quote: VerifiedQuote
        var rebooted = false
        switch verdict {
        case .rejected(let e):
            switch e.code {
            case .resetCountWentBack, .restartCountWentBack, .clockWentBack:
                // Signed by the enrolled AK over our nonce: the TPM itself says its clock went back.
                return .untrusted(nil, measuredBy: measuredBy, code: e.code.rawValue, detail: e.reason)
            default:
                return .refuted(code: e.code.rawValue, detail: e.reason)
            }
        case .valid(let q): quote = q
        case .rebooted(let q, _): quote = q; rebooted = true
        }
        // Leaving `rebooted` takes a boot log that replays to the quoted boot PCRs (and its golden boot events),
        // also when the host was `unreachable` or `untrusted` since the reboot.
        let awaitingBootLog = row?.state == .rebooted || row?.bootLogPending == true
        var bootLog: BootEventLog?
        if awaitingBootLog {
            switch Self.rebootedBootLog(bundle, quote) {
            case .replays(let log): bootLog = log
            case .refused(let code, let detail): return .rebooted(quote, measuredBy: measuredBy, code: code, detail: detail)
            }
        }
        if let golden = cfg.golden {
            let v = Evaluator.evaluate(.init(quoted: PCRBanks(quote), records: bundle.eventLog ?? [], bootLog: bootLog, golden: golden))
            if !v.trusted {
                let first = v.reasons.first
                return .untrusted(quote, measuredBy: measuredBy, code: first.map { "golden.\($0.kind.rawValue)" } ?? "golden.untrusted",
                                  detail: v.reasons.prefix(3).map(\.description).joined(separator: "; "))
            }
        }
        if rebooted, !awaitingBootLog {
            return .rebooted(quote, measuredBy: measuredBy, code: "quote.rebooted",
                             detail: "TPM reset/restart since the last quote (resetCount \(quote.clock.resetCount), restartCount \(quote.clock.restartCount)); trusted again once its boot log replays")
        }
        return .trusted(quote, measuredBy: measuredBy)
    }

    /// Writes a state the evacuation decides (`evacuating`, `evacuated`), keeping the failure that caused it.
    @discardableResult
    package func setEvacuationState(_ state: HostState, host: String, code: String?, detail: String?, now: Date = Date()) throws(RegionError) -> HostState? {
        var update = IVTStore.Update(state: state, code: code, detail: detail)
        update.force = true
        let old = try store.apply(update, to: host, now: now)
        refresh(now: now)
        if let old, old != state {
            logger.notice("host state changed", metadata: ["attest.host": "\(host)", "attest.old": "\(old.rawValue)", "attest.new": "\(state.rawValue)", "attest.code": "\(code ?? "-")"])
        }
        return old
    }

    func apply(_ j: Judgement, to host: String, now: Date) throws(RegionError) -> ReportResult {
        var update: IVTStore.Update
        switch j {
        case .trusted(let q, let by):
            update = Self.update(.trusted, q, by: by, now: now)
        case .rebooted(let q, let by, let code, let detail):
            update = Self.update(.rebooted, q, by: by, now: now)
            update.code = code
            update.detail = detail
        case .untrusted(let q, let by, let code, let detail):
            update = q.map { Self.update(.untrusted, $0, by: by, now: now) } ?? IVTStore.Update(state: .untrusted, measuredBy: by)
            update.code = code
            update.detail = detail
        case .refuted(let code, let detail):
            // Reached only for the RC-TCB's own challenge: the host answered with evidence that does not verify.
            update = IVTStore.Update(state: .untrusted, code: code, detail: detail, measuredBy: "rc-tcb")
        case .silent(let detail):
            update = IVTStore.Update(state: .unreachable, code: "host.unreachable", detail: detail, measuredBy: "rc-tcb")
        }
        let applied = try store.applyAndRead(update, to: host, now: now)
        let old = applied?.old
        if old == .evacuating || old == .evacuated, update.state != .trusted, update.state != .rebooted, !update.force {
            update.state = old ?? update.state   // the store kept the evacuation's state
        }
        if old != update.state {
            // The one event this change wrote follows the snapshot's last one directly: nothing else changed the
            // table, so this row is all there is to update (O(1), not a re-read of every host).
            if let applied, let seq = applied.eventSeq, seq == snapshotSeq + 1, snapshot[host] != nil {
                snapshot[host] = applied.row
                snapshotSeq = seq
                snapshotTaken = now
                stateCounts[applied.old, default: 0] -= 1
                stateCounts[applied.row.state, default: 0] += 1
                metrics.record(counts: stateCounts)
            } else {
                refresh(now: now)
            }
        } else if let applied, snapshot[host] != nil {
            // No audit event: the row as written (last quote, TPM clock) is all that changed.
            snapshot[host] = applied.row
        }
        if let old, old != update.state {
            logger.notice("host state changed", metadata: ["attest.host": "\(host)", "attest.old": "\(old.rawValue)", "attest.new": "\(update.state.rawValue)", "attest.code": "\(update.code ?? "-")"])
            if let stateObserver {
                let new = update.state
                Task { await stateObserver(host, old, new) }
            }
        }
        return ReportResult(target: host, state: update.state.rawValue, code: update.code, detail: update.detail)
    }

    static func update(_ state: HostState, _ q: VerifiedQuote, by: String, now: Date) -> IVTStore.Update {
        IVTStore.Update(state: state, measuredBy: by, quoteAt: now, tpmClock: q.clock.clock, resetCount: q.clock.resetCount,
                        restartCount: q.clock.restartCount, pcrDigest: Hex.encode(q.quoteInfo.pcrDigest))
    }

    // MARK: Schedules

    /// Hosts the RC-TCB should challenge itself: not measured by the ring recently, or in a state that needs it.
    package func overdue(now: Date, maxAge: TimeInterval) -> [HostConfig] {
        return rowsSnapshot().values.compactMap { row -> HostConfig? in
            guard row.akName != nil, !row.revoked, let cfg = hosts[row.host] else { return nil }
            if row.state != .trusted { return cfg }
            guard let last = row.lastQuoteAt else { return cfg }
            return now.timeIntervalSince(last) > maxAge ? cfg : nil
        }
    }
}

extension RegionState {
    /// Trusted hosts whose last verified quote is older than `freshness` become `stale`.
    package func markStale(now: Date, freshness: TimeInterval) {
        for row in rowsSnapshot().values where row.state == .trusted {
            if let last = row.lastQuoteAt, now.timeIntervalSince(last) > freshness {
                _ = try? store.apply(IVTStore.Update(state: .stale, code: "quote.stale", detail: "last verified quote \(Int(now.timeIntervalSince(last))) s ago"), to: row.host, now: now)
            }
        }
    }
}
