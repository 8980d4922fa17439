import Agent
import Foundation
import Swtpm
import Attestation
import Measurement
import SmigTestSupport
import Testing
import TPM
import TPMWire

/// Files in the state directory that a local user could plant or loosen, through the real executable.
@Suite("State files refuse links and loose modes", .serialized)
struct StateFileTests {
    static func makeStateDirectory(_ w: CLIWorld, mode: Int = 0o700) throws {
        try FileManager.default.createDirectory(atPath: w.state, withIntermediateDirectories: true)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: w.state)
    }

    @Test func symlinkedMeasurementLogIsRefusedAndItsTargetNotCreated() throws {
        let w = try CLIWorld()
        try Self.makeStateDirectory(w)
        let elsewhere = w.path("elsewhere")
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: true)
        let target = elsewhere + "/made-by-root"
        try FileManager.default.createSymbolicLink(atPath: w.state + "/measurements.log", withDestinationPath: target)
        try Data("hypervisor".utf8).write(to: URL(fileURLWithPath: w.path("xen.gz")))
        let r = try w.smig(["measure", "--extend", "--source", "file:" + w.path("xen.gz")])
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("state.symlink"), "\(r.output)")
        #expect(r.output.contains(w.state + "/measurements.log"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
    }

    /// An `ak.json` naming another EK type than the one its AK was created under: a coded error naming the file,
    /// not a bare ESYS integrity failure; the file is left as it was.
    @Test func wrongEKTypeInAKFileIsNamed() throws {
        let w = try CLIWorld()
        let provisioned = try w.smig(["tpm", "provision"])
        #expect(provisioned.status == 0, "\(provisioned.output)")
        let ak = w.state + "/ak.json"
        let text = try String(contentsOfFile: ak, encoding: .utf8)
        let wrong = text.contains("\"rsa\"") ? text.replacingOccurrences(of: "\"ekType\" : \"rsa\"", with: "\"ekType\" : \"ecc384\"")
                                           : text.replacingOccurrences(of: "\"ekType\" : \"ecc384\"", with: "\"ekType\" : \"rsa\"")
        #expect(wrong != text, "ak.json: \(text)")
        try Data(wrong.utf8).write(to: URL(fileURLWithPath: ak))
        let r = try w.smig(["quote", "--nonce", String(repeating: "ab", count: 20), "--pcrs", "sha256:15", "--out", w.path("b.json")])
        #expect(r.status != 0)
        #expect(r.output.contains("tpm.key-state"), "\(r.output)")
        #expect(r.output.contains(ak), "\(r.output)")
        #expect(try String(contentsOfFile: ak, encoding: .utf8) == wrong)
        #expect(!FileManager.default.fileExists(atPath: w.path("b.json")))
    }

    @Test func worldWritableAKFileIsRefused() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let ak = w.state + "/ak.json"
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: ak)
        let before = try Data(contentsOf: URL(fileURLWithPath: ak))
        let q = try w.smig(["quote", "--nonce", "01010101010101010101010101010101", "--out", w.path("b.json")])
        #expect(q.status == 2, "\(q.output)")
        #expect(q.output.contains("state.unsafe-mode"), "\(q.output)")
        #expect(q.output.contains(ak), "\(q.output)")
        #expect(!FileManager.default.fileExists(atPath: w.path("b.json")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: ak)) == before)
    }

    @Test func symlinkedAKFileIsRefused() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let ak = w.state + "/ak.json"
        try FileManager.default.moveItem(atPath: ak, toPath: w.path("ak-elsewhere.json"))
        try FileManager.default.createSymbolicLink(atPath: ak, withDestinationPath: w.path("ak-elsewhere.json"))
        let q = try w.smig(["quote", "--nonce", "01010101010101010101010101010101"])
        #expect(q.status == 2, "\(q.output)")
        #expect(q.output.contains("state.symlink"), "\(q.output)")
    }

    @Test func worldWritableStateDirectoryIsRefused() throws {
        let w = try CLIWorld()
        try Self.makeStateDirectory(w, mode: 0o777)
        try Data("hypervisor".utf8).write(to: URL(fileURLWithPath: w.path("xen.gz")))
        let r = try w.smig(["measure", "--extend", "--source", "file:" + w.path("xen.gz")])
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("state.unsafe-mode"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: w.state + "/measurements.log"))
        let p = try w.smig(["tpm", "provision"])
        #expect(p.status == 2, "\(p.output)")
        #expect(!FileManager.default.fileExists(atPath: w.state + "/ak.json"))
    }

    @Test func filesAreCreatedOwnerOnly() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        try Data("hypervisor".utf8).write(to: URL(fileURLWithPath: w.path("xen.gz")))
        #expect(try w.smig(["measure", "--extend", "--source", "file:" + w.path("xen.gz")]).status == 0)
        func mode(_ path: String) throws -> Int {
            try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }
        #expect(try mode(w.state) == 0o700)
        for name in ["ak.json", "ak.pem", "ak.pub", "measurements.log", "measurements.log.lock"] {
            #expect(try mode(w.state + "/" + name) == 0o600, "\(name)")
        }
    }
}

/// The measurement log under concurrent measuring passes, and a damaged log.
@Suite("Measurement log under concurrency", .serialized)
struct MeasurementLogConcurrencyTests {
    /// Starts `smig-attest` with `args` without waiting.
    static func start(_ w: CLIWorld, _ args: [String], output: URL) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try TestBinaries.smigAttest())
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.merge(w.env) { $1 }
        p.environment = env
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        let handle = try FileHandle(forWritingTo: output)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        return p
    }

    @Test func concurrentExtendsReplayToPCR15() throws {
        let w = try CLIWorld()
        let writers = 3
        let rounds = 20
        for round in 0..<rounds {
            var running: [(Process, URL)] = []
            for writer in 0..<writers {
                let file = w.path("part-\(writer)")
                try Data("round \(round) writer \(writer)".utf8).write(to: URL(fileURLWithPath: file))
                let out = URL(fileURLWithPath: w.path("out-\(writer).txt"))
                running.append((try Self.start(w, ["measure", "--extend", "--source", "file:" + file], output: out), out))
            }
            for (process, out) in running {
                process.waitUntilExit()
                let text = (try? String(contentsOf: out, encoding: .utf8)) ?? ""
                #expect(process.terminationStatus == 0, "round \(round): \(text)")
            }
        }
        let records = try MeasurementLog.readRecords(path: w.state + "/measurements.log")
        #expect(records.count == writers * rounds)
        #expect(records.map(\.recnum) == Array(0..<(writers * rounds)))
        let device = try TPMDevice(tcti: w.swtpm.tcti)
        let pcr15 = try device.readPCRs(PCRSelectionList([PCRSelection(hash: .sha256, pcrs: [15])])).ordered[0]
        #expect(try MeasurementReplay.replay(records)[15] == pcr15)
        // And a quote of this host carries the whole log.
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        #expect(try w.smig(["quote", "--nonce", "01010101010101010101010101010101", "--out", w.path("b.json")]).status == 0)
        let bundle = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.path("b.json")))) as? [String: Any]
        #expect((bundle?["eventLog"] as? [Any])?.count == writers * rounds)
    }

    @Test func damagedLogNeverStopsQuoteAndResetStartsANewOne() async throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let file = w.path("xen.gz")
        try Data("v1".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try w.smig(["measure", "--extend", "--source", "file:" + file]).status == 0)
        // Damage the log: a record number that appears twice, as two unlocked writers used to leave it.
        let logPath = w.state + "/measurements.log"
        var text = try String(contentsOfFile: logPath, encoding: .utf8)
        let lines = text.split(separator: "\n")
        text += String(lines[1]) + "\n"
        try text.write(toFile: logPath, atomically: false, encoding: .utf8)
        let damaged = try Data(contentsOf: URL(fileURLWithPath: logPath))

        let measure = try w.smig(["measure", "--extend", "--source", "file:" + file])
        #expect(measure.status != 0)
        #expect(measure.output.contains("measure.log-corrupt"), "\(measure.output)")

        let quote = try w.smig(["quote", "--nonce", "01010101010101010101010101010101", "--out", w.path("b.json")])
        #expect(quote.status == 0, "\(quote.output)")
        #expect(quote.output.contains("measurement log is unusable"), "\(quote.output)")
        let bundle = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.path("b.json")))) as? [String: Any])
        #expect(bundle["eventLog"] == nil)
        #expect((bundle["eventLogUnusable"] as? String)?.contains("measure.log-corrupt") == true)
        // The agent builds its evidence the same way: no records, and why.
        let agentBundle = try await agentEvidence(w)
        #expect(agentBundle.eventLog == nil)
        #expect(agentBundle.eventLogUnusable?.contains("measure.log-corrupt") == true, "\(agentBundle.eventLogUnusable ?? "nil")")
        // The bundle still verifies as a quote (strict reader included).
        let verify = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "01010101010101010101010101010101", "--json"])
        #expect(verify.status == 0, "\(verify.output)")

        let reset = try w.smig(["measure", "--reset-log", "--json"])
        #expect(reset.status == 0, "\(reset.output)")
        let kept = try #require(try reset.json()["kept"] as? String)
        #expect(try Data(contentsOf: URL(fileURLWithPath: kept)) == damaged)
        try Data("v2".utf8).write(to: URL(fileURLWithPath: file))
        let again = try w.smig(["measure", "--extend", "--source", "file:" + file])
        #expect(again.status == 0, "\(again.output)")
        let records = try MeasurementLog.readRecords(path: logPath)
        #expect(records.count == 1)
        let quote2 = try w.smig(["quote", "--nonce", "02020202020202020202020202020202", "--out", w.path("b2.json")])
        #expect(quote2.status == 0, "\(quote2.output)")
        let bundle2 = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.path("b2.json")))) as? [String: Any])
        #expect((bundle2["eventLog"] as? [Any])?.count == 1)
        #expect(bundle2["eventLogUnusable"] == nil)
    }

    /// The agent's evidence of the world's host (its TPM connection closed before the next command runs).
    func agentEvidence(_ w: CLIWorld) async throws -> EvidenceBundle {
        let host = try HostTPM(tcti: w.swtpm.tcti, stateDirectory: w.state, hostId: "agent-host")
        return try await host.evidence(nonce: Array(repeating: 3, count: 16), selection: try PCRSelectionList(parsing: "sha256:0-7,15"))
    }
}
