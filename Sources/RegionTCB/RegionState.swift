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

/// The RC-TCB's view of its region and the one place the IVT's host rows change.
///
/// The rule: a host's row changes only on evidence the RC-TCB verified in full — the host's enrolled AK, a nonce the
/// RC-TCB issued, a measurement log that replays to the signed PCR, clock continuity — and anything that would make
/// it `untrusted` or `unreachable` is confirmed by the RC-TCB's own challenge. A ring report is a hint: evidence that
/// fails any check proves nothing about its target (`report-refused`, then a direct challenge), a genuine quote of a
/// bad state is confirmed by a direct challenge, a claim of silence is confirmed by a direct challenge. Challenges
/// and judgements of one host are serialised (``HostQueue``), so concurrent claims cannot race each other's quotes.
/// Every change goes through ``HostTransition`` inside the store's transaction; what is logged, answered, observed
/// and counted is what was written.
///
/// The parts: the ring (`RegionState+Ring`), the nonces (``NonceBook``), the judgement of evidence
/// (``EvidenceJudge``), the transition rule (``HostTransition``) and the IVT snapshot kept here.
package actor RegionState {
    package struct HostConfig: Sendable {
        package var id: String
        package var address: String
        package var port: Int
        package var golden: GoldenValues?
        /// What a TPM reset of the host takes before it is trusted again (region policy `boot-log:`).
        package var bootLog: RegionPolicy.BootLogRequirement = .required

        package init(id: String, address: String, port: Int, golden: GoldenValues?, bootLog: RegionPolicy.BootLogRequirement = .required) {
            self.id = id
            self.address = address
            self.port = port
            self.golden = golden
            self.bootLog = bootLog
        }
    }

    /// The RC-TCB's own challenge of a host (RC-TCB → agent).
    package typealias Challenger = @Sendable (HostConfig, QuoteChallenge) async throws -> EvidenceBundle

    package let store: any RegionStore
    /// The store when several RC-TCBs share it (PostgreSQL): the ring's nonces live there (`RegionState+Nonces`).
    let sharedStore: LeaderFencedStore?
    /// The hosts of the region policy, with the golden values a reload may replace (``adopt(_:)``).
    var hosts: [String: HostConfig]
    /// The digest of the policy (region and golden files) evidence is judged under now; recorded with each verdict.
    var policyDigest: String?
    /// Ring order from the region policy.
    let order: [String]
    package nonisolated var selection: PCRSelectionList { judge.selection }
    package nonisolated var nonceLifetime: TimeInterval { nonceLifetimeValue }
    let nonceLifetimeValue: TimeInterval
    let logger: Logger
    let judge: EvidenceJudge
    let challenger: Challenger
    let metrics = RegionMetrics()
    var nonces: NonceBook
    var rotation = 0
    var offset = 1
    var queue = HostQueue()
    /// Claim-triggered challenges in flight, by host: further silence claims and refused reports wait for this one.
    var claimChallenges: [String: Task<ReportResult, Never>] = [:]
    /// Told of every state change (host, old, new) after it is committed; never awaited by the verdict.
    var stateObserver: (@Sendable (String, HostState?, HostState) async -> Void)?
    /// Identical refusals of one host are one audit event per this window, with a count.
    package static let refusalWindow: TimeInterval = 60

    package init(store: any RegionStore, hosts: [HostConfig], order: [String], selection: PCRSelectionList, nonceLifetime: TimeInterval,
                 logger: Logger, policyDigest: String? = nil, challenger: @escaping Challenger) {
        self.store = store
        self.sharedStore = store as? LeaderFencedStore
        self.policyDigest = policyDigest
        self.hosts = Dictionary(uniqueKeysWithValues: hosts.map { ($0.id, $0) })
        self.order = order
        self.nonceLifetimeValue = nonceLifetime
        self.nonces = NonceBook(lifetime: nonceLifetime)
        self.logger = logger
        self.challenger = challenger
        self.judge = EvidenceJudge(selection: selection, metrics: metrics)
    }

    package func setStateObserver(_ o: @escaping @Sendable (String, HostState?, HostState) async -> Void) {
        stateObserver = o
    }

    /// A host's configuration from the region policy.
    package func config(_ host: String) -> HostConfig? { hosts[host] }

    /// Judges evidence under a reloaded policy from now on: its hosts' golden values and its digest. The hosts and
    /// their endpoints are the ones this actor was made with (``LoadedRegionPolicy/restartNeeded(for:)`` is empty).
    /// A judgement already under way finishes under the policy it started with.
    package func adopt(_ loaded: LoadedRegionPolicy) {
        for h in loaded.hosts where hosts[h.id] != nil {
            hosts[h.id]?.golden = h.golden
            hosts[h.id]?.bootLog = h.bootLog
        }
        policyDigest = loaded.digest
    }

    /// A host's configuration and the policy digest as of now, for a judgement about to start.
    func judgedUnder(_ cfg: HostConfig) -> (HostConfig, String?) { (hosts[cfg.id] ?? cfg, policyDigest) }

    // MARK: IVT snapshot

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
    /// The store is read with the actor free for other calls: a verdict applied meanwhile (``applied``) may have
    /// put a newer row into the snapshot than the one read, so of the two the row with the higher version stays.
    package func refresh(now: Date = Date()) async {
        let seq = try? await store.lastEventSeq()
        if let seq, seq == snapshotSeq, !snapshot.isEmpty {
            snapshotTaken = now
            return
        }
        guard let read = try? await store.rows() else { return }
        var rows = Dictionary(read.map { ($0.host, $0) }, uniquingKeysWith: { a, _ in a })
        for (host, mine) in snapshot where (rows[host]?.version ?? .max) < mine.version { rows[host] = mine }
        snapshot = rows
        snapshotTaken = now
        snapshotSeq = seq ?? -1
        stateCounts = rows.values.reduce(into: [:]) { $0[$1.state, default: 0] += 1 }
        metrics.record(counts: stateCounts)
    }

    func rowsSnapshot() async -> [String: IVTRow] {
        if snapshot.isEmpty || Date().timeIntervalSince(snapshotTaken) > 1 { await refresh() }
        return snapshot
    }

    /// The IVT rows as this RC-TCB knows them (re-read when the audit trail grew): the scheduler, the evacuator
    /// and the admin API read these instead of scanning the table.
    package func rows() async -> [IVTRow] {
        await rowsSnapshot().values.sorted { $0.host < $1.host }
    }

    /// Admits an agent's request: its certificate's host is enrolled with the certificate's AK Name and not
    /// revoked. Checked against the table as it is now (a revocation by another process counts at once).
    package func admitAgent(_ host: String, akName: String?) async throws(RegionError) {
        await refresh()
        guard let row = snapshot[host], let enrolled = row.akName, !row.revoked else {
            throw RegionError(.revoked, "host \(host) is revoked or not enrolled")
        }
        guard enrolled == akName else {
            throw RegionError(.akChanged, "the certificate names AK \(akName ?? "-"), host \(host) is enrolled with \(enrolled)")
        }
    }

    /// What a verification of `host` needs from the IVT: its enrolled AK (parsed once per enrolment) and its row
    /// (the clock of its last verified quote), as of now — or, `refreshed`, as of the table's read by this request's
    /// admission. No key when it is not enrolled or revoked. (A revocation written after this read does not let the
    /// verdict trust the host: ``HostTransition`` leaves a revoked row as it is.)
    func verificationInputs(_ host: String, refreshed: Bool = false) async -> EvidenceJudge.Inputs {
        if !refreshed { await refresh() }
        guard let row = snapshot[host] else { return (nil, nil) }
        guard let akName = row.akName, !row.revoked else { return (nil, row) }
        if let cached = enrolledKeys[host], cached.akName == akName { return (cached.key, row) }
        guard let enrolment = try? await store.enrolment(host), enrolment.akName == akName, !enrolment.revoked,
              let key = try? AttestationKey(tpm2bPublic: enrolment.akPublic) else { return (nil, row) }
        enrolledKeys[host] = (akName, key)
        return (key, row)
    }

    // MARK: Intake

    /// A ring report. The reporter must be trusted and assigned to the target; the nonce must have been issued
    /// for this pair and is spent now; the evidence is verified here against the target's enrolled AK. The answer
    /// carries the reporter's next assignment (a fresh nonce for its current target), as ``assignment(for:now:)``
    /// would give it. `admitted`: the reporter was admitted (``admitAgent(_:akName:)``) in this request, which read the
    /// table then: the target's enrolment is taken from that read instead of a second one. `evidenceAsSent`: the
    /// bytes the report's evidence was read from (`RegionJSON.decodeReportAsSent`), kept as they are with the verdict.
    package func intake(_ report: AIMReport, from reporter: String, admitted: Bool = false, evidenceAsSent: Data? = nil,
                        now: Date = Date()) async throws(RegionError) -> ReportResult {
        var result = try await verdict(on: report, from: reporter, admitted: admitted, evidenceAsSent: evidenceAsSent, now: now)
        let next = try await assignment(for: reporter, now: Date(), origin: .answer)
        result.next = next.target == nil ? nil : next
        return result
    }

    func verdict(on report: AIMReport, from reporter: String, admitted: Bool, evidenceAsSent: Data?,
                 now: Date) async throws(RegionError) -> ReportResult {
        guard let reporterRow = await rowsSnapshot()[reporter], reporterRow.state == .trusted else {
            throw RegionError(.reporterNotTrusted, "host \(reporter) is not trusted: its reports are not taken")
        }
        let nonce = try await spendNonce(report.nonce, reporter: reporter, target: report.target, now: now)
        guard let cfg = hosts[report.target] else { throw RegionError(.malformedReport, "unknown target \(report.target.prefix(64))") }
        switch report.outcome {
        case .noAnswer:
            logger.info("neighbour reports no answer; confirming directly", metadata: ["attest.host": "\(report.target)", "attest.reporter": "\(reporter)"])
            return await confirmClaim(cfg, reason: "reported silent by \(reporter)")
        case .evidence:
            guard let evidence = report.evidence else { throw RegionError(.malformedReport, "outcome evidence without evidence") }
            await acquire(cfg.id)
            // Verified off the actor: signatures and log replays of many reports run in parallel; the host's row is
            // read and written while this host's queue is held.
            let (current, digest) = judgedUnder(cfg)
            let inputs = await verificationInputs(cfg.id, refreshed: admitted)
            let (judged, kept) = await judgeOffActor(current, evidence, inputs, nonce: nonce, asSent: evidenceAsSent)
            switch judged {
            case .trusted(let q):
                defer { release(cfg.id) }
                return try await apply(.trusted(QuoteFacts(q, at: now, verifiedWith: inputs), measuredBy: reporter), to: cfg.id, judgedUnder: digest,
                                       evidence: kept, now: now)
            case .rebooted(let q, let code, let detail):
                defer { release(cfg.id) }
                return try await apply(.rebooted(QuoteFacts(q, at: now, verifiedWith: inputs), measuredBy: reporter, code: code, detail: detail), to: cfg.id,
                                 judgedUnder: digest, evidence: kept, now: now)
            case .untrusted(_, let code, _):
                // Genuine evidence of a bad state still changes the row only through the RC-TCB's own challenge.
                release(cfg.id)
                logger.warning("reported bad state; confirming directly", metadata: ["attest.host": "\(cfg.id)", "attest.reporter": "\(reporter)", "attest.code": "\(code)"])
                return await challengeDirectly(cfg, reason: "bad state reported by \(reporter) (\(code))", now: Date())
            case .refuted(let code, let detail), .clockWentBack(let code, let detail), .bootLogRefused(_, let code, let detail):
                release(cfg.id)
                // Evidence that does not verify (or is older than what was recorded) proves nothing about the target.
                logger.warning("report evidence refused; confirming directly", metadata: ["attest.host": "\(cfg.id)", "attest.reporter": "\(reporter)", "attest.code": "\(code)", "attest.reason": "\(detail)"])
                try await store.auditAggregated(host: cfg.id, kind: "report-refused", code: code, detail: "from \(reporter): \(detail)",
                                          window: Self.refusalWindow, now: now)
                return await confirmClaim(cfg, reason: "evidence from \(reporter) refused (\(code))")
            }
        }
    }

    /// A host says its measurements changed: challenge it now.
    package func noticeReceived(_ notice: ChangeNotice, from host: String) async {
        guard let cfg = hosts[host] else { return }
        _ = await challengeDirectly(cfg, reason: "change notice: \(notice.changed.prefix(5).joined(separator: ", "))", now: Date())
    }

    /// A claim about a host (silence, evidence that did not verify) confirmed by the RC-TCB's own challenge. Claims
    /// arriving while one is being confirmed wait for that challenge instead of starting their own: a flood of claims
    /// costs the host one quote at a time.
    func confirmClaim(_ cfg: HostConfig, reason: String) async -> ReportResult {
        if let running = claimChallenges[cfg.id] { return await running.value }
        let task = Task { await self.challengeDirectly(cfg, reason: reason, now: Date()) }
        claimChallenges[cfg.id] = task
        let result = await task.value
        claimChallenges[cfg.id] = nil
        return result
    }

    /// The RC-TCB's own challenge: its nonce, its verification, after any other work on this host. Silence →
    /// `unreachable`; evidence that does not verify → `untrusted` (the host answered the RC-TCB's own nonce).
    @discardableResult
    package func challengeDirectly(_ cfg: HostConfig, reason: String, now: Date) async -> ReportResult {
        await acquire(cfg.id)
        defer { release(cfg.id) }
        let nonce = NonceBook.direct()
        let bundle: EvidenceBundle
        do {
            bundle = try await challenger(cfg, QuoteChallenge(nonce: Hex.encode(nonce), pcrSelection: judge.selection.description))
        } catch {
            return await applyOrReport(.unreachable(detail: "\(reason): no answer (\(error))"), to: cfg.id)
        }
        let at = Date()
        let verdict: HostVerdict
        let (current, digest) = judgedUnder(cfg)
        let inputs = await verificationInputs(cfg.id)
        let (judged, kept) = await judgeOffActor(current, bundle, inputs, nonce: nonce)
        switch judged {
        case .trusted(let q):
            verdict = .trusted(QuoteFacts(q, at: at, verifiedWith: inputs), measuredBy: "rc-tcb")
        case .rebooted(let q, let code, let detail), .bootLogRefused(let q, let code, let detail):
            verdict = .rebooted(QuoteFacts(q, at: at, verifiedWith: inputs), measuredBy: "rc-tcb", code: code, detail: detail)
        case .untrusted(let q, let code, let detail):
            verdict = .untrusted(QuoteFacts(q, at: at, verifiedWith: inputs), measuredBy: "rc-tcb", code: code, detail: detail)
        case .refuted(let code, let detail), .clockWentBack(let code, let detail):
            verdict = .untrusted(nil, measuredBy: "rc-tcb", code: code, detail: detail)
        }
        return await applyOrReport(verdict, to: cfg.id, judgedUnder: digest, evidence: kept, at: at)
    }

    /// The judgement, and the bundle as the IVT keeps it (`asSent`: the bytes it was read from), both made off the
    /// actor (every verdict passes through it).
    nonisolated func judgeOffActor(_ cfg: HostConfig, _ bundle: EvidenceBundle, _ inputs: EvidenceJudge.Inputs,
                                   nonce: [UInt8], asSent: Data? = nil) async -> (EvidenceJudge.Judgement, JudgedEvidence) {
        (judge.judge(cfg, bundle, inputs, nonce: nonce), JudgedEvidence(bundle, asSent: asSent))
    }

    func acquire(_ host: String) async {
        if queue.tryAcquire(host) { return }
        await withCheckedContinuation { queue.enqueue(host, $0) }
    }

    func release(_ host: String) { queue.release(host) }

    // MARK: Transitions

    /// The evacuation's own steps (`evacuating` with its cause, `evacuated`).
    @discardableResult
    package func setEvacuationState(_ state: HostState, host: String, code: String?, detail: String?, now: Date = Date()) async throws(RegionError) -> HostState? {
        let verdict: HostVerdict = state == .evacuated ? .evacuated(cause: code, detail: detail) : .evacuating(cause: code, detail: detail)
        return try await applied(verdict, to: host, now: now)?.old
    }

    /// The evacuation ends without emptying the host: it takes the state its latest verdict gave it.
    @discardableResult
    package func endEvacuation(host: String, detail: String, now: Date = Date()) async throws(RegionError) -> HostState? {
        try await applied(.evacuationEnded(detail: detail), to: host, now: now)?.row.state
    }

    func applyOrReport(_ v: HostVerdict, to host: String, judgedUnder digest: String? = nil, evidence: JudgedEvidence? = nil,
                       at now: Date = Date()) async -> ReportResult {
        do { return try await apply(v, to: host, judgedUnder: digest, evidence: evidence, now: now) } catch {
            logger.error("IVT write failed", metadata: ["attest.host": "\(host)", "attest.code": "\(error.code)", "attest.reason": "\(error.reason)"])
            return ReportResult(target: host, hostState: .unknown, code: error.code.rawValue, detail: "IVT write failed")
        }
    }

    func apply(_ v: HostVerdict, to host: String, judgedUnder digest: String? = nil, evidence: JudgedEvidence? = nil,
               now: Date) async throws(RegionError) -> ReportResult {
        guard let a = try await applied(v, to: host, judgedUnder: digest, evidence: evidence, now: now) else {
            return ReportResult(target: host, hostState: .unknown, detail: "\(host) is not in the IVT")
        }
        return ReportResult(target: host, hostState: a.row.state, code: a.row.failureCode, detail: a.row.failureDetail)
    }

    /// Applies a verdict through the store (``HostTransition`` in its transaction) and reports what was written: the
    /// snapshot, the log, the state observer and the gauges all follow the row as written. The evidence bundle the
    /// verdict was reached on is kept with it.
    func applied(_ v: HostVerdict, to host: String, judgedUnder digest: String? = nil, evidence: JudgedEvidence? = nil,
                 now: Date) async throws(RegionError) -> IVTStore.Applied? {
        guard let a = try await store.transition(v, host: host, judgedUnder: digest, judged: evidence, now: now) else { return nil }
        if let seq = a.eventSeq {
            // The one event this change wrote follows the snapshot's last one directly: nothing else changed the
            // table, so this row is all there is to update (O(1), not a re-read of every host).
            if seq == snapshotSeq + 1, let mine = snapshot[host], mine.version <= a.row.version {
                snapshot[host] = a.row
                snapshotSeq = seq
                snapshotTaken = now
                stateCounts[a.old, default: 0] -= 1
                stateCounts[a.row.state, default: 0] += 1
                metrics.record(counts: stateCounts)
            } else {
                await refresh(now: now)
            }
            logger.notice("host state changed", metadata: ["attest.host": "\(host)", "attest.old": "\(a.old.rawValue)", "attest.new": "\(a.row.state.rawValue)", "attest.code": "\(a.row.failureCode ?? "-")"])
            if let stateObserver {
                let (old, new) = (a.old, a.row.state)
                Task { await stateObserver(host, old, new) }
            }
        } else if let mine = snapshot[host], mine.version <= a.row.version {
            // No audit event: the row as written (last quote, TPM clock) is all that changed (unless a newer row
            // of the host was read meanwhile).
            snapshot[host] = a.row
        }
        return a
    }

    // MARK: Schedules

    /// Hosts the RC-TCB should challenge itself: not measured by the ring recently, or in a state that needs it.
    package func overdue(now: Date, maxAge: TimeInterval) async -> [HostConfig] {
        return await rowsSnapshot().values.compactMap { row -> HostConfig? in
            guard row.akName != nil, !row.revoked, let cfg = hosts[row.host] else { return nil }
            if row.state != .trusted { return cfg }
            guard let last = row.lastQuoteAt else { return cfg }
            return now.timeIntervalSince(last) > maxAge ? cfg : nil
        }
    }

    /// Trusted hosts whose last verified quote is older than `freshness` become `stale`.
    package func markStale(now: Date, freshness: TimeInterval) async {
        for row in await rowsSnapshot().values where row.state == .trusted {
            if let last = row.lastQuoteAt, now.timeIntervalSince(last) > freshness {
                _ = await applyOrReport(.stale(before: now.addingTimeInterval(-freshness), detail: "last verified quote \(Int(now.timeIntervalSince(last))) s ago"), to: row.host, at: now)
            }
        }
    }
}
