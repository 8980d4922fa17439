import Crypto
import Foundation
import NIOCore
import RegionProtocol
import RegionLab
import RegionTCB
import SmigTestSupport
import Swtpm
import Testing
import TPM
import TPMWire

/// A TPM of the attacker's own: a swtpm whose EK certificate chains to its local CA, which the region trusts as an
/// EK CA (as a region trusts a TPM vendor's CA that also certifies the attacker's TPMs), with a provisioned AK.
final class ImpostorTPM: @unchecked Sendable {
    // @unchecked Sendable: used by one test at a time.
    let swtpm: SoftwareTPM
    let state: String

    init(dir: URL) throws {
        swtpm = try SoftwareTPM(root: dir.appendingPathComponent("impostor-tpm"))
        try swtpm.start()
        state = dir.appendingPathComponent("impostor-state").path
        let provisioned = try ToolRun.run(try TestBinaries.smigAttest(), ["tpm", "provision", "--tcti", swtpm.tcti, "--state-dir", state])
        guard provisioned.status == 0 else { throw RegionFixtureFailure(description: "impostor tpm provision: \(provisioned.output)") }
    }

    deinit { swtpm.destroy() }

    var caFiles: [String] {
        let ca = swtpm.root.appendingPathComponent("localca")
        return [ca.appendingPathComponent("swtpm-localca-rootca-cert.pem").path, ca.appendingPathComponent("issuercert.pem").path]
    }
}

extension LoopbackRegion {
    /// `agent enrol` of the real binary as `host`, with the TPM at `tcti` and its state in `state`.
    func enrol(as host: String, tcti: String, state: String) throws -> ToolRun {
        try ToolRun.run(options.binary, ["agent", "enrol", "--rctcb", url, "--ca", "\(rctcbDir)/region-ca.pem", "--host-id", host, "--tcti", tcti,
                                 "--state-dir", state, "--json"])
    }

    /// The code of a failed `--json` command (`{"error": {"code": …}}`, among whatever else it logged).
    static func code(_ run: ToolRun) -> String? {
        guard let match = run.output.firstMatch(of: /"code"\s*:\s*"([a-z0-9.-]+)"/) else { return nil }
        return String(match.1)
    }

    /// The public data of host `i` that anyone can learn: its EK certificate and AK public (`tpm provision` writes
    /// both), and its EK public (read from its TPM before its agent runs).
    func publicData(_ i: Int, ekPublic: [UInt8]) throws -> EnrolmentRequest {
        let cert = try Data(contentsOf: URL(fileURLWithPath: "\(hosts[i].stateDirectory)/ek-rsa.der"))
        let ak = try Data(contentsOf: URL(fileURLWithPath: "\(hosts[i].stateDirectory)/ak.pub"))
        return EnrolmentRequest(hostId: hosts[i].id, ekPublic: Data(ekPublic).base64EncodedString(), ekCertificate: cert.base64EncodedString(),
                                platformCertificate: nil, akPublic: ak.base64EncodedString(),
                                tlsPublicKey: P256.Signing.PrivateKey().publicKey.pemRepresentation)
    }
}

/// How many credentials the flood was given, and whether it has ended (answered in full, or failed).
actor FloodCount {
    private(set) var value = 0
    private(set) var ended = false
    func add() { value += 1 }
    func end() { ended = true }
}

/// Enrolment attacked through the real processes: a flood of unauthenticated `begin` built from public data, and
/// TPMs with valid EK certificates claiming host ids that are bound to other EKs.
@Suite("Enrolment attacked in a live region", .serialized)
struct EnrolmentLiveTests {
    @Test func floodOfBeginDoesNotLockOutAReadmittedHost() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        var ekPublics: [[UInt8]] = []
        // The flood and the genuine host both come from 127.0.0.1 here, where a budget per address would hold them
        // back together (`RequestBudgetTests` shows that budget): this test is about what enrolment itself does
        // with the flood it takes, so the RC-TCB takes all of it.
        let r = try await LoopbackRegion.live(hosts: 3, beforeEnrol: { r in
            ekPublics = try r.hosts.map { h in try TPMDevice(tcti: h.tcti).withEndorsementKey(.rsa2048) { $0.publicKey.wireBytes } }
        }, serveExtra: ["--enrolment-requests-per-second", "0"])
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }
        // host-2 is revoked and re-admitted by default: its own EK may enrol again.
        r.stopAgent(1)
        try r.run(["rctcb", "revoke", "host-2", "--dir", r.rctcbDir])
        let readmit = try JSONSerialization.jsonObject(with: Data(try r.run(["rctcb", "readmit", "host-2", "--dir", r.rctcbDir, "--json"]).utf8)) as? [String: Any]
        #expect(readmit?["mayEnrol"] as? String == "ek-name")
        #expect(readmit?["ekName"] as? String == Hex.encode(try Public(wireBytes: ekPublics[1]).name))

        // The flood, with public data only: host-1's EK certificate and AK (enrolled), unknown host ids, and
        // host-2's own EK certificate and AK (re-admitted), each with a TLS key of the attacker's.
        let enrolled = try r.publicData(0, ekPublic: ekPublics[0]), open = try r.publicData(1, ekPublic: ekPublics[1])
        let ca = "\(r.rctcbDir)/region-ca.pem", url = r.url
        // Refusals are cheap (an IVT read); a replay of host-2's data costs a chain check and a credential each.
        let perKind = 1_000, replays = 200, workers = 4
        let credentials = FloodCount()
        let flood = Task { () -> [String: Int] in
            defer { Task { await credentials.end() } }
            return try await withThrowingTaskGroup(of: [String: Int].self) { group in
                for w in 0..<workers {
                    group.addTask {
                        let client = try RegionClient(caFile: ca, certificate: nil, key: nil, peer: .rctcb, timeout: .seconds(60))
                        var codes: [String: Int] = [:]
                        for i in stride(from: w, to: perKind, by: workers) {
                            var stranger = enrolled
                            stranger.hostId = "host-z\(i)"
                            var replay = open
                            replay.tlsPublicKey = P256.Signing.PrivateKey().publicKey.pemRepresentation
                            for request in i % (perKind / replays) == 0 ? [enrolled, stranger, replay] : [enrolled, stranger] {
                                do {
                                    _ = try await client.post("\(url)/v1/enrol/begin", request, as: EnrolmentChallenge.self)
                                    codes["challenge \(request.hostId)", default: 0] += 1
                                    await credentials.add()
                                } catch let failure as RegionClient.Failure {
                                    codes[failure.code, default: 0] += 1
                                }
                            }
                        }
                        await client.shutdown()
                        return codes
                    }
                }
                return try await group.reduce(into: [:]) { all, codes in all.merge(codes, uniquingKeysWith: +) }
            }
        }
        // The real host-2 enrols while the flood runs (strangers already hold credentials for it), and attests again.
        // A flood that failed (a connection refused, a time-out) ends early: its error is the test's failure.
        try await waitUntilAsync("the flood under way", seconds: 300) {
            let (given, ended) = (await credentials.value, await credentials.ended)
            return given >= 10 || ended
        }
        if await credentials.value < 10 {
            let early = try await flood.value
            Issue.record("the flood ended with \(await credentials.value) credentials: \(early)")
            return
        }
        let genuine = try await Spawn.run(r.options.binary, ["agent", "enrol", "--rctcb", r.url, "--ca", ca, "--host-id", "host-2", "--tcti", r.hosts[1].tcti,
                                                     "--state-dir", r.hosts[1].stateDirectory, "--json"])
        let codes = try await flood.value
        #expect(genuine.status == 0, "\(genuine.output)")
        // Every request was answered as what it is: refused (enrolled host, unknown host), or — for host-2's
        // replays — a credential no stranger can answer while host-2 was open, refused once it had enrolled.
        print("flood answers: \(codes.sorted { $0.key < $1.key })")
        let refusedReplays = (codes["enrol.already-enrolled"] ?? 0) - perKind
        #expect(Set(codes.keys).isSubset(of: ["enrol.already-enrolled", "enrol.unknown-host", "challenge host-2"]), "\(codes)")
        #expect(codes["enrol.unknown-host"] == perKind && refusedReplays >= 0, "\(codes)")
        #expect((codes["challenge host-2"] ?? 0) >= 10 && (codes["challenge host-2"] ?? 0) + refusedReplays == replays, "\(codes)")
        try r.startAgent(1)
        try await r.wait("host-2 trusted again", seconds: 120) { rows in rows.first { $0.host == "host-2" }?.state == .trusted }
        let events = try r.store().events().filter { $0.host == "host-2" }
        #expect(events.filter { $0.kind == "enrolled" }.count == 2)
        // After its enrolment the flood's replays of host-2 are refused too.
        let client = try RegionClient(caFile: ca, certificate: nil, key: nil, peer: .rctcb)
        let late = await #expect(throws: RegionClient.Failure.self) { try await client.post("\(url)/v1/enrol/begin", open, as: EnrolmentChallenge.self) }
        #expect(late?.code == "enrol.already-enrolled")
        await client.shutdown()
    }

    /// Hosts enrolling at once from one address, faster than its enrolment budget: the real `agent enrol` is refused
    /// with request.rate-limited, waits and asks again, and every host enrols.
    @Test func hostsEnrollingFasterThanTheirAddressMayWaitAndEnrol() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        // One request at once, then one every ten seconds: the first host's begin takes it, and its complete and the
        // second host's two requests each wait for the next (however long a TPM takes to answer, under ten seconds).
        let r = try await LoopbackRegion.live(hosts: 2, serveExtra: ["--enrolment-requests-per-second", "0.1"])
        try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
        #expect(r.rctcbOutput(0).contains("address over its enrolment budget"), "\(r.rctcbOutput(0).suffix(3000))")
        let enrolled = try r.store().events().filter { $0.kind == "enrolled" }.map(\.host)
        #expect(Set(enrolled) == ["host-1", "host-2"], "\(enrolled)")
    }

    /// A completion that arrives after its challenge expired is refused as such, and the real `agent enrol` starts again
    /// and enrols. The test's RC-TCB executable opens challenges for one second and holds the first completion that
    /// reaches it for two, before the completion is judged.
    @Test func anEnrolmentWhoseChallengeExpiredStartsAgainAndEnrols() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        var options = LoopbackRegion.Options(binary: try TestBinaries.smigAttest())
        (options.hosts, options.hypervisor, options.vmsPerHost, options.regionName) = (2, .file, 0, "live-test")
        let r = try LoopbackRegion(options)
        defer { r.stop() }
        try await r.prepare()
        let held = "\(r.dir)/first-completion-held"
        try r.startRCTCB(0, executable: [try TestBinaries.rctcbHooked(), "--enrolment-challenge-lifetime", "1",
                                         "--run-after", "enrolment.completing=[ -e \(held) ] || { touch \(held); sleep 2; }"])
        let run = try r.enrol(as: "host-1", tcti: r.hosts[0].tcti, state: r.hosts[0].stateDirectory)
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("enrolment round 1 ended with enrol.challenge-expired"), "\(run.output)")
        #expect(FileManager.default.fileExists(atPath: held))
        let events = try r.store().events().filter { $0.host == "host-1" }
        #expect(events.filter { $0.kind == "enrolled" }.count == 1, "\(events.map { "\($0.kind) \($0.code ?? "")" })")
        #expect(events.contains { $0.kind == "enrol-refused" && $0.code == "enrol.challenge-expired" }, "\(events.map(\.kind))")
    }

    @Test func aHostIdIsBoundToItsEK() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("smig-impostor-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let impostor = try ImpostorTPM(dir: scratch)
        // The policy pins host-3's EK by its certificate's SHA-256; the impostor's CA is a trusted EK CA.
        var pinnedRefusal: ToolRun?
        let r = try await LoopbackRegion.live(hosts: 3, ekCAs: impostor.caFiles, hostKeys: { id, state in
            guard id == "host-3" else { return "" }
            let der = try Data(contentsOf: URL(fileURLWithPath: "\(state)/ek-rsa.der"))
            return ", ek-cert-sha256: \(Hex.encode(Array(SHA256.hash(data: der))))"
        }, beforeEnrol: { r in
            // At the first enrolment, before the real host-3: the impostor is refused by the pin.
            pinnedRefusal = try r.enrol(as: "host-3", tcti: impostor.swtpm.tcti, state: impostor.state)
        })
        let first = try #require(pinnedRefusal)
        #expect(first.status == 1 && LoopbackRegion.code(first) == "enrol.ek-not-pinned", "\(first.output)")
        try await r.wait("all trusted") { rows in rows.count == 3 && rows.allSatisfy { $0.state == .trusted } }

        // `rctcb readmit host-2` (by default the EK it enrolled with): a TPM with a valid EK chain is refused as host-2.
        r.stopAgent(1)
        try r.run(["rctcb", "readmit", "host-2", "--dir", r.rctcbDir])
        let refused = try r.enrol(as: "host-2", tcti: impostor.swtpm.tcti, state: impostor.state)
        #expect(refused.status == 1 && LoopbackRegion.code(refused) == "enrol.ek-not-allowed", "\(refused.output)")
        let real = try r.enrol(as: "host-2", tcti: r.hosts[1].tcti, state: r.hosts[1].stateDirectory)
        #expect(real.status == 0, "\(real.output)")
        try r.startAgent(1)
        try await r.wait("host-2 trusted again", seconds: 120) { rows in rows.first { $0.host == "host-2" }?.state == .trusted }

        // Explicitly --any-ek: the new TPM may enrol as host-2; the host id is then bound to its EK.
        let any = try JSONSerialization.jsonObject(with: Data(try r.run(["rctcb", "readmit", "host-2", "--any-ek", "--dir", r.rctcbDir, "--json"]).utf8)) as? [String: Any]
        #expect(any?["mayEnrol"] as? String == "any-ek")
        let replaced = try r.enrol(as: "host-2", tcti: impostor.swtpm.tcti, state: impostor.state)
        #expect(replaced.status == 0, "\(replaced.output)")
        let impostorEK = try JSONSerialization.jsonObject(with: Data(try r.run(["tpm", "provision", "--tcti", impostor.swtpm.tcti, "--state-dir", impostor.state, "--json"]).utf8)) as? [String: Any]
        #expect(try r.store().enrolmentStanding("host-2")?.ekName == impostorEK?["ekName"] as? String)

        // The pin holds whatever the readmission allows.
        try r.run(["rctcb", "readmit", "host-3", "--any-ek", "--dir", r.rctcbDir])
        let pinned = try r.enrol(as: "host-3", tcti: impostor.swtpm.tcti, state: impostor.state)
        #expect(pinned.status == 1 && LoopbackRegion.code(pinned) == "enrol.ek-not-pinned", "\(pinned.output)")

        // Each readmission is audited with what it allows.
        let readmissions = try r.store().events().filter { $0.kind == "readmitted" }.map { "\($0.host ?? "") \($0.detail ?? "")" }
        #expect(readmissions.count == 3)
        #expect(readmissions.first?.hasPrefix("host-2 may enrol with the EK named 000b") == true, "\(readmissions)")
        #expect(readmissions.dropFirst().first == "host-2 may enrol with any EK certified by a trusted EK CA", "\(readmissions)")
        #expect(readmissions.last == "host-3 may enrol with any EK certified by a trusted EK CA", "\(readmissions)")
    }
}
