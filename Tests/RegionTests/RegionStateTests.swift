import Attestation
import Swtpm
import Foundation
import RegionLab
import Logging
import Policy
import RegionProtocol
import RegionTCB
import SmigTestSupport
import SyntheticBootLogs
import Testing
import TPM
import TPMWire

/// One host of an in-process region: a real swtpm with an AK, answering challenges with real quotes.
final class RegionHost: @unchecked Sendable {
    // @unchecked Sendable: the device's ESYS calls are serialised by its own lock (challenges now run off the pool,
    // so two may overlap); `device`, `silent` and `bootLog` are changed by the test between challenges, not during one.
    let id: String
    let swtpm: SoftwareTPM
    var device: TPMDevice
    let blob: AttestationKeyBlob
    var silent = false
    /// The TCG boot event log attached to its evidence, if any.
    var bootLog: [UInt8]?

    init(_ id: String) throws {
        guard SoftwareTPM.isAvailable else { throw RegionFixtureFailure(description: "swtpm is required (apt-get install swtpm swtpm-tools); never skipped") }
        self.id = id
        swtpm = try SoftwareTPM()
        try swtpm.start()
        device = try TPMDevice(tcti: swtpm.tcti)
        blob = try device.createAttestationKey(.eccP256, under: .rsa2048)
    }

    deinit { swtpm.destroy() }

    /// Hosts `ids`, each with its swtpm set up and its AK made, on a thread of their own (``offPool(_:_:)``): seconds
    /// of blocking work per host, which would otherwise hold a thread of the pool every test shares.
    static func start(_ ids: [String]) async throws -> [RegionHost] {
        try await offPool("swtpm for \(ids.joined(separator: ", "))") { try ids.map(RegionHost.init) }
    }

    func evidence(_ challenge: QuoteChallenge) throws -> EvidenceBundle {
        if silent { throw RegionFixtureFailure(description: "\(id) is silent") }
        let nonce = Hex.decode(challenge.nonce) ?? []
        let selection = try PCRSelectionList(parsing: challenge.pcrSelection)
        let (q, values) = try device.withAttestationKey(blob) { try device.quoteWithValues(with: $0, nonce: nonce, selection: selection) }
        return EvidenceBundle(hostId: id, akPublic: blob.publicBytes, akName: try blob.akPublic.name, nonce: nonce, attest: q.attest,
                              signature: q.signature, selection: selection, pcrValues: values.ordered, bootLog: bootLog, agentTime: Date())
    }

    /// An orderly reboot: the OS sends TPM2_Shutdown(CLEAR), then the TPM restarts with TPM2_Startup(CLEAR)
    /// (a TPM Reset: resetCount goes up). Without the orderly shutdown the TPM reports clockInfo.safe = NO.
    func reboot() throws {
        let r = try ToolRun.run("tpm2_shutdown", ["-T", swtpm.tcti])
        guard r.status == 0 else { throw RegionFixtureFailure(description: "tpm2_shutdown: \(r.output)") }
        swtpm.stop()
        try swtpm.start()
        device = try TPMDevice(tcti: swtpm.tcti)
    }
}

/// The RC-TCB's region logic with real swtpm quotes: cold start, ring duty, and every attack on report intake
/// refused with the IVT unchanged. Each test has its own hosts, swtpms and IVT, so the tests run side by side.
@Suite("Region state")
struct RegionStateTests {
    let hosts: [RegionHost]
    let region: RegionState
    let store: IVTStore

    init() async throws {
        let ids = ["h1", "h2", "h3"]
        hosts = try await RegionHost.start(ids)
        let (store, _) = try IVTStoreTests.store(hosts: ids)
        for h in hosts {
            try store.recordEnrolment(host: h.id, akPublic: h.blob.publicBytes, akName: Hex.encode(try h.blob.akPublic.name), ekCertificate: "test")
        }
        self.store = store
        let byID = Dictionary(uniqueKeysWithValues: hosts.map { ($0.id, $0) })
        // Nonces live long enough that a test process whose cooperative threads are starved (the full suite starts
        // dozens of swtpm and QEMU processes at once) does not see its own expire between issue and report
        // (`aNonceOlderThanItsLifetimeIsRefused` moves the clock past it instead).
        region = RegionState(store: store, hosts: ids.map { .init(id: $0, address: "127.0.0.1", port: 1, golden: nil) }, order: ids,
                             selection: try PCRSelectionList(parsing: "sha256:0-7,15"), nonceLifetime: 600, logger: Logger(label: "test"),
                             challenger: { cfg, challenge in
                                 // A quote makes the EK again (an RSA key): the TPM's seconds on a thread of their own.
                                 try await offPool("quote of \(cfg.id)") { try byID[cfg.id]!.evidence(challenge) }
                             })
    }

    func coldStart() async throws {
        for cfg in await region.overdue(now: Date(), maxAge: 60) { await region.challengeDirectly(cfg, reason: "test", now: Date()) }
        let rows = try store.rows()
        #expect(rows.allSatisfy { $0.state == .trusted }, "\(rows.map { "\($0.host) \($0.state) \($0.failureCode ?? "") \($0.failureDetail ?? "")" })")
    }

    func host(_ id: String) -> RegionHost { hosts.first { $0.id == id }! }

    /// A report as h1's agent would send it for its assignment.
    func report(from reporter: String) async throws -> (AIMReport, RingAssignment) {
        let a = try await region.assignment(for: reporter)
        let target = try #require(a.target)
        let evidence = try host(target).evidence(QuoteChallenge(nonce: try #require(a.nonce), pcrSelection: try #require(a.pcrSelection)))
        return (AIMReport(target: target, nonce: a.nonce!, outcome: .evidence, evidence: evidence), a)
    }

    @Test func coldStartThenRingDuty() async throws {
        try await coldStart()
        let view = await region.ringView()
        #expect(view.links.count == 3)
        #expect(view.links.allSatisfy { $0.measurer != $0.target })
        let (r, _) = try await report(from: "h1")
        let result = try await region.intake(r, from: "h1")
        #expect(result.state == "trusted")
        #expect(try store.row(r.target)?.measuredBy == "h1")
    }

    @Test func aNonceOlderThanItsLifetimeIsRefused() async throws {
        try await coldStart()
        let (r, _) = try await report(from: "h1")
        let before = try store.rows()
        let late = await #expect(throws: RegionError.self) {
            try await region.intake(r, from: "h1", now: Date().addingTimeInterval(region.nonceLifetime + 1))
        }
        #expect(late?.code == .nonceUnknown)
        #expect(try store.rows() == before)
    }

    /// The attacker is h1's agent, enrolled and trusted, asking for its assignment again and again without ever
    /// reporting. The RC-TCB keeps only the newest of those nonces open (``NonceBook/openPerReporter``): the first
    /// it asked for is refused as unknown. The nonce the answer to its last report carried is of the other origin,
    /// stays open through the flood, and is spent as usual.
    @Test func askingWithoutReportingKeepsFewNoncesOpen() async throws {
        try await coldStart()
        let (r, _) = try await report(from: "h1")
        let carried = try #require(try await region.intake(r, from: "h1").next)
        let (first, _) = try await report(from: "h1")
        for _ in 0..<500 { _ = try await region.assignment(for: "h1") }
        // The newest asked-for nonces (the bound) and the carried one; nothing of the flood beyond them.
        #expect(await region.openNonces(of: "h1") == 16 + 1)
        let dropped = await #expect(throws: RegionError.self) { try await region.intake(first, from: "h1") }
        #expect(dropped?.code == .nonceUnknown)
        let target = try #require(carried.target)
        let evidence = try host(target).evidence(QuoteChallenge(nonce: try #require(carried.nonce), pcrSelection: try #require(carried.pcrSelection)))
        let answered = try await region.intake(AIMReport(target: target, nonce: carried.nonce!, outcome: .evidence, evidence: evidence), from: "h1")
        #expect(answered.state == "trusted")
        // Another reporter's nonces are not touched by h1's flood.
        #expect(await region.openNonces(of: "h2") == 0)
    }

    /// Duty after duty on the nonce each answer carries: every report spends one and its answer issues one, so the
    /// reporter holds exactly one open nonce throughout.
    @Test func dutyAfterDutyHoldsOneNonce() async throws {
        try await coldStart()
        let (r, _) = try await report(from: "h1")
        var next = try await region.intake(r, from: "h1").next
        for _ in 0..<20 {
            let a = try #require(next)
            let target = try #require(a.target)
            let evidence = try host(target).evidence(QuoteChallenge(nonce: try #require(a.nonce), pcrSelection: try #require(a.pcrSelection)))
            let answer = try await region.intake(AIMReport(target: target, nonce: a.nonce!, outcome: .evidence, evidence: evidence), from: "h1")
            #expect(answer.state == "trusted")
            #expect(await region.openNonces(of: "h1") == 1)
            next = answer.next
        }
    }

    @Test func replayedNonceForeignPairAndUnassignedTarget() async throws {
        try await coldStart()
        let (r, _) = try await report(from: "h1")
        _ = try await region.intake(r, from: "h1")
        let before = try store.rows()
        let replayed = await #expect(throws: RegionError.self) { try await region.intake(r, from: "h1") }
        #expect(replayed?.code == .nonceUnknown)
        // h2's nonce used by h3.
        let (r2, _) = try await report(from: "h2")
        let foreignPair = await #expect(throws: RegionError.self) { try await region.intake(r2, from: "h3") }
        #expect(foreignPair?.code == .notAssigned)
        // h1 assigned to one host reports on another with that nonce.
        let (r3, _) = try await report(from: "h1")
        var wrongTarget = r3
        wrongTarget.target = r3.target == "h2" ? "h3" : "h2"
        let unassigned = await #expect(throws: RegionError.self) { try await region.intake(wrongTarget, from: "h1") }
        #expect(unassigned?.code == .notAssigned)
        // A nonce the RC-TCB never issued.
        var invented = r3
        invented.nonce = String(repeating: "ab", count: 32)
        let neverIssued = await #expect(throws: RegionError.self) { try await region.intake(invented, from: "h1") }
        #expect(neverIssued?.code == .nonceUnknown)
        #expect(try store.rows().map(\.state) == before.map(\.state))
    }

    @Test func untrustedReportersAreNotHeard() async throws {
        try await coldStart()
        let (r, _) = try await report(from: "h3")
        try store.set(.init(state: .untrusted, code: "test"), to: "h3")
        await region.refresh()
        let error = await #expect(throws: RegionError.self) { try await region.intake(r, from: "h3") }
        #expect(error?.code == .reporterNotTrusted)
        #expect(try await region.assignment(for: "h3").target == nil)
        #expect(await region.ringView().excluded.contains("h3"))
    }

    /// Evidence that does not verify proves nothing about the target: the RC-TCB challenges it directly, and
    /// the target stays trusted when it answers well.
    @Test func badEvidenceFromAReporterIsConfirmedDirectly() async throws {
        try await coldStart()
        var (r, _) = try await report(from: "h1")
        var evidence = try #require(r.evidence)
        evidence.pcrs["sha256"]?["15"] = String(repeating: "00", count: 31) + "01"
        r.evidence = evidence
        let result = try await region.intake(r, from: "h1")
        #expect(result.state == "trusted")
        #expect(try store.row(r.target)?.measuredBy == "rc-tcb")
        #expect(try store.events().contains { $0.kind == "report-refused" && $0.host == r.target })
        // The same for evidence made for another host.
        var (r2, _) = try await report(from: "h2")
        r2.evidence?.hostId = "h1"
        #expect(try await region.intake(r2, from: "h2").state == "trusted")
    }

    /// A host without golden values: its measurement log is still a claim of the evidence, and one that does not
    /// replay to the signed PCR proves nothing (refused, then the RC-TCB's own challenge finds the host good).
    @Test func aLogThatDoesNotReplayIsRefusedWithoutGoldenValues() async throws {
        try await coldStart()
        var (r, _) = try await report(from: "h1")
        var evidence = try #require(r.evidence)
        let claimed = MeasurementRecord.Content.reported(source: "file", name: "/usr/lib/xen/boot/xen.gz", value: "a hypervisor never extended", detail: "test")
        evidence.eventLog = [try MeasurementRecord(recnum: 0, pcr: 15, content: claimed)]
        r.evidence = evidence
        #expect(try await region.intake(r, from: "h1").state == "trusted")
        #expect(try store.events().contains { $0.kind == "report-refused" && $0.host == r.target && $0.code == "evidence.log-mismatch" })
        #expect(try store.row(r.target)?.measuredBy == "rc-tcb" && store.row(r.target)?.state == .trusted)
    }

    @Test func silenceIsConfirmedAndIsNotUntrusted() async throws {
        try await coldStart()
        let (r, _) = try await report(from: "h1")
        // A false claim of silence: the RC-TCB asks itself and the target answers.
        let claim = AIMReport(target: r.target, nonce: try #require(try await region.assignment(for: "h1").nonce), outcome: .noAnswer)
        #expect(try await region.intake(claim, from: "h1").state == "trusted")
        // Real silence.
        host(r.target).silent = true
        let claim2 = AIMReport(target: r.target, nonce: try #require(try await region.assignment(for: "h1").nonce), outcome: .noAnswer)
        #expect(try await region.intake(claim2, from: "h1").state == "unreachable")
        host(r.target).silent = false
        #expect(await region.challengeDirectly(.init(id: r.target, address: "", port: 0, golden: nil), reason: "test", now: Date()).state == "trusted")
    }

    @Test func rebootIsNoticedThenTrustReturns() async throws {
        try await coldStart()
        try host("h2").reboot()
        let cfg = RegionState.HostConfig(id: "h2", address: "", port: 0, golden: nil)
        let first = await region.challengeDirectly(cfg, reason: "test", now: Date())
        #expect(first.state == "rebooted", "\(first.code ?? "") \(first.detail ?? "")")
        #expect(first.code == "quote.rebooted")
        // Trust returns only with a boot log that replays to the quoted boot PCRs.
        let missing = await region.challengeDirectly(cfg, reason: "test", now: Date())
        #expect(missing.state == "rebooted" && missing.code == "reboot.boot-log-missing", "\(missing)")
        let log = BootEventLogBuilder(firmware: "h2 firmware")
        for e in log.extends() { try host("h2").device.extendPCR(e.pcr, digests: e.digests) }
        host("h2").bootLog = BootEventLogBuilder(firmware: "other firmware").bytes()
        let forged = await region.challengeDirectly(cfg, reason: "test", now: Date())
        #expect(forged.state == "rebooted" && forged.code == "eventlog.replay-mismatch", "\(forged)")
        host("h2").bootLog = Array(Data(base64Encoded: "AAEC") ?? Data())
        let malformed = await region.challengeDirectly(cfg, reason: "test", now: Date())
        #expect(malformed.state == "rebooted" && malformed.code?.hasPrefix("eventlog.") == true && malformed.code != "eventlog.replay-mismatch", "\(malformed)")
        host("h2").bootLog = log.bytes()
        #expect(await region.challengeDirectly(cfg, reason: "test", now: Date()).state == "trusted")
        #expect(try store.row("h2")?.resetCount ?? 0 >= 1)
    }

    /// Attack: a rebooted host goes silent for a moment (or a network path drops its answers) and then answers
    /// without a boot log. Being `unreachable` in between must not wash out the reboot: it stays `rebooted` until
    /// a boot log replays.
    @Test func aSilenceAfterARebootDoesNotSkipTheBootLog() async throws {
        try await coldStart()
        try host("h2").reboot()
        let cfg = RegionState.HostConfig(id: "h2", address: "", port: 0, golden: nil)
        #expect(await region.challengeDirectly(cfg, reason: "test", now: Date()).state == "rebooted")
        host("h2").silent = true
        #expect(await region.challengeDirectly(cfg, reason: "test", now: Date()).state == "unreachable")
        host("h2").silent = false
        let back = await region.challengeDirectly(cfg, reason: "test", now: Date())
        #expect(back.state == "rebooted" && back.code == "reboot.boot-log-missing", "\(back)")
        #expect(try store.row("h2")?.bootLogPending == true)
        #expect(try store.events().contains { $0.host == "h2" && $0.newState == "trusted" && ($0.oldState == "unreachable" || $0.oldState == "rebooted") } == false)
        let log = BootEventLogBuilder(firmware: "h2 firmware")
        for e in log.extends() { try host("h2").device.extendPCR(e.pcr, digests: e.digests) }
        host("h2").bootLog = log.bytes()
        #expect(await region.challengeDirectly(cfg, reason: "test", now: Date()).state == "trusted")
        #expect(try store.row("h2")?.bootLogPending == false)
    }

    /// A report's answer carries the reporter's next duty with a nonce issued for that pair: it works once, for
    /// that reporter and target only, like an assignment asked for.
    @Test func theAnswerCarriesTheNextDuty() async throws {
        try await coldStart()
        let (r, _) = try await report(from: "h1")
        let first = try await region.intake(r, from: "h1")
        let next = try #require(first.next)
        #expect(next.target == r.target && next.nonce != r.nonce)
        let challenge = QuoteChallenge(nonce: try #require(next.nonce), pcrSelection: try #require(next.pcrSelection))
        let carried = AIMReport(target: r.target, nonce: challenge.nonce, outcome: .evidence, evidence: try host(r.target).evidence(challenge))
        let otherReporter = await #expect(throws: RegionError.self) { try await region.intake(carried, from: "h2") }
        #expect(otherReporter?.code == .notAssigned)
        let second = try await region.intake(carried, from: "h1")
        #expect(second.state == "trusted" && second.next?.nonce != nil && second.next?.nonce != next.nonce)
        let replayed = await #expect(throws: RegionError.self) { try await region.intake(carried, from: "h1") }
        #expect(replayed?.code == .nonceUnknown)
    }

    /// The RC-TCB judges from its in-memory copy of the IVT: after verdicts that change no state (only the last
    /// quote and the TPM clock), the copy is still exactly the table, so clock continuity is checked against the
    /// last verified quote, not an older one.
    @Test func theInMemoryIVTIsTheTable() async throws {
        try await coldStart()
        for reporter in ["h1", "h2", "h3", "h1", "h2", "h3"] {
            let (r, _) = try await report(from: reporter)
            #expect(try await region.intake(r, from: reporter).state == "trusted")
        }
        let table = try store.rows()
        #expect(await region.rows() == table)
        #expect(table.allSatisfy { $0.tpmClock != nil && $0.measuredBy != "rc-tcb" })
    }

    /// An agent's request is admitted against the table as it is now: a revocation written by another process
    /// (another connection to the IVT, as `rctcb revoke` is) is refused on the next request, with no refresh.
    @Test func aRevocationByAnotherProcessCountsAtOnce() async throws {
        try await coldStart()
        let akName = try #require(try store.row("h2")?.akName)
        try await region.admitAgent("h2", akName: akName)
        let otherAK = await #expect(throws: RegionError.self) { try await region.admitAgent("h2", akName: "000b" + String(repeating: "00", count: 32)) }
        #expect(otherAK?.code == .akChanged)
        try IVTStore(path: store.path).revoke(host: "h2")
        let revoked = await #expect(throws: RegionError.self) { try await region.admitAgent("h2", akName: akName) }
        #expect(revoked?.code == .revoked)
        let unknown = await #expect(throws: RegionError.self) { try await region.admitAgent("nobody", akName: akName) }
        #expect(unknown?.code == .revoked)
    }

    /// Attack: a host reboots (TPM reset) while it is being evacuated. It stays `evacuating` with its cause, the
    /// reboot is remembered, and once emptied it comes back `rebooted` — never `trusted` without a boot log.
    @Test func aRebootWhileEvacuatingIsNotForgotten() async throws {
        try await coldStart()
        let cfg = RegionState.HostConfig(id: "h2", address: "", port: 0, golden: nil)
        try await region.setEvacuationState(.evacuating, host: "h2", code: "golden.digest-not-allowed", detail: "hypervisor changed")
        try host("h2").reboot()
        let during = await region.challengeDirectly(cfg, reason: "test", now: Date())
        #expect(during.state == "evacuating" && during.code == "golden.digest-not-allowed", "\(during)")
        #expect(try store.row("h2")?.bootLogPending == true)
        #expect(try store.row("h2")?.verdictState == .rebooted)
        try await region.setEvacuationState(.evacuated, host: "h2", code: nil, detail: nil)
        let after = await region.challengeDirectly(cfg, reason: "test", now: Date())
        #expect(after.state == "rebooted" && after.code == "reboot.boot-log-missing", "\(after)")
        #expect(!(try store.events().contains { $0.host == "h2" && $0.newState == "trusted" && $0.oldState == "evacuated" }))
        let log = BootEventLogBuilder(firmware: "h2 firmware")
        for e in log.extends() { try host("h2").device.extendPCR(e.pcr, digests: e.digests) }
        host("h2").bootLog = log.bytes()
        #expect(await region.challengeDirectly(cfg, reason: "test", now: Date()).state == "trusted")
    }

    /// An evacuating host that sends a good quote stays `evacuating`: the answer, the in-memory IVT and the state
    /// observer all say what the table says, and nobody is told of a transition that did not happen.
    @Test func noPhantomTransitions() async throws {
        try await coldStart()
        let seen = SeenTransitions()
        await region.setStateObserver { host, old, new in await seen.add("\(host) \(old?.rawValue ?? "-") → \(new.rawValue)") }
        let (r, _) = try await report(from: "h1")
        try await region.setEvacuationState(.evacuating, host: r.target, code: "test.cause", detail: "evacuation under test")
        let answer = try await region.intake(r, from: "h1")
        #expect(answer.state == "evacuating" && answer.code == "test.cause", "\(answer)")
        #expect(try store.row(r.target)?.state == .evacuating && store.row(r.target)?.measuredBy == "h1")
        #expect(await region.rows().first { $0.host == r.target }?.state == .evacuating)
        try await region.setEvacuationState(.evacuated, host: r.target, code: nil, detail: nil)
        try await waitUntilAsync("the observer was told", seconds: 60) { await seen.all.count >= 2 }
        #expect(await Set(seen.all) == ["\(r.target) trusted → evacuating", "\(r.target) evacuating → evacuated"])
        #expect(try store.events().filter { $0.host == r.target && $0.kind == "state" }.suffix(2).map { "\($0.oldState ?? "") → \($0.newState ?? "")" }
                == ["trusted → evacuating", "evacuating → evacuated"])
    }

    @Test func revokedHostsAreNotMeasured() async throws {
        try await coldStart()
        try store.revoke(host: "h2")
        await region.refresh()
        let view = await region.ringView()
        #expect(!view.links.contains { $0.measurer == "h2" || $0.target == "h2" })
        #expect(view.links.count == 2)
    }
}

@Suite("Ring rotation")
struct RingRotationTests {
    @Test(arguments: [4, 5, 7])
    func rotationNeverReversesOrSelfMeasures(n: Int) async throws {
        let ids = (1...n).map { "r\($0)" }
        let (store, _) = try IVTStoreTests.store(hosts: ids)
        for id in ids {
            try store.recordEnrolment(host: id, akPublic: [0], akName: "000b\(id)", ekCertificate: "test")
            try store.set(.init(state: .trusted), to: id)
        }
        let region = RegionState(store: store, hosts: ids.map { .init(id: $0, address: "", port: 0, golden: nil) }, order: ids,
                                 selection: try PCRSelectionList(parsing: "sha256:15"), nonceLifetime: 30, logger: Logger(label: "test"),
                                 challenger: NoChallenger.refuse)
        var previous = await region.ringView()
        for _ in 0..<6 {
            await region.rotate()
            let now = await region.ringView()
            #expect(now.rotation == previous.rotation + 1)
            let measurerOf = Dictionary(uniqueKeysWithValues: previous.links.map { ($0.target, $0.measurer) })
            for link in now.links {
                #expect(link.measurer != link.target)
                #expect(measurerOf[link.measurer] != link.target, "\(link.measurer) now measures its former measurer \(link.target)")
            }
            #expect(Set(now.links.map(\.target)).count == n)
            previous = now
        }
    }
}

/// For tests whose region is never challenged directly: a challenge is a test failure, answered as silence.
enum NoChallenger {
    struct Called: Error, CustomStringConvertible { var description: String { "this test's region has no challenger" } }
    static let refuse: RegionState.Challenger = { cfg, _ in
        Issue.record("unexpected direct challenge of \(cfg.id)")
        throw Called()
    }
    /// Every host is silent to the RC-TCB's own challenges.
    static let silent: RegionState.Challenger = { _, _ in throw Called() }
}

actor SeenTransitions {
    var all: [String] = []
    func add(_ s: String) { all.append(s) }
}
