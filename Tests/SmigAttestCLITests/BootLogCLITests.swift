import Foundation
import Testing

/// `bootlog show`, `bootlog replay` and `verify --boot-log` through the real executable, on real machines' logs
/// (Tests/AttestationTests/Vectors/bootlogs, see their PROVENANCE files).
@Suite("bootlog commands")
struct BootLogCLITests {
    static let vectors = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("AttestationTests/Vectors/bootlogs")

    static func vector(_ name: String) -> String { vectors.appendingPathComponent(name).path }

    static func jsonValue(_ run: Run) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(run.output.utf8))
    }

    @Test func replayPrintsEveryBankAndMatchesTheMachine() throws {
        let run = try Run.smig(["bootlog", "replay", Self.vector("rhel8-uefi.bin"), "--json"])
        #expect(run.status == 0, "\(run.output)")
        let banks = try #require(try run.json()["banks"] as? [String: [String: String]])
        #expect(banks.keys.sorted() == ["sha1", "sha256", "sha384"])
        #expect(banks["sha384"]?.count == 24)
        #expect(banks["sha256"]?["17"] == String(repeating: "f", count: 64))
        let machine = try JSONDecoder().decode([String: [String: String]].self,
                                               from: try Data(contentsOf: Self.vectors.appendingPathComponent("rhel8-uefi.pcrs.json")))
        for (bank, values) in machine {
            for (pcr, value) in values { #expect(banks[bank]?[pcr] == value, "\(bank) PCR \(pcr)") }
        }
        let narrowed = try Run.smig(["bootlog", "replay", Self.vector("rhel8-uefi.bin"), "--pcrs", "sha256:0,14", "--json"])
        #expect(try #require(try narrowed.json()["banks"] as? [String: [String: String]]) ==
            ["sha256": ["0": machine["sha256"]?["0"] ?? "", "14": machine["sha256"]?["14"] ?? ""]])
        let noBank = try Run.smig(["bootlog", "replay", Self.vector("debian-10.bin"), "--pcrs", "sha256:0"])
        #expect(noBank.status == 2 && noBank.output.contains("has no sha256 bank"), "\(noBank.output)")
    }

    @Test func showListsEventsAsCanonicalEventLogRecords() throws {
        let run = try Run.smig(["bootlog", "show", Self.vector("glinux-alex.bin"), "--json"])
        #expect(run.status == 0, "\(run.output)")
        let records = try #require(try Self.jsonValue(run) as? [[String: Any]])
        #expect(records.count == 29)
        #expect(records.map { $0["recnum"] as? Int } == (0..<29).map { $0 })
        let locality = records[1]["content"] as? [String: Any]
        #expect(locality?["event_type"] as? String == "EV_NO_ACTION")
        #expect(locality?["description"] as? String == "StartupLocality 3")
        let digests = try #require(records[2]["digests"] as? [[String: String]])
        #expect(digests.map { $0["hashAlg"] } == ["sha1", "sha256"])
        let text = try Run.smig(["bootlog", "show", Self.vector("glinux-alex.bin")])
        #expect(text.status == 0 && text.output.contains("EV_EFI_BOOT_SERVICES_APPLICATION") && text.output.contains("GRUBX64.EFI"))
    }

    @Test func malformedLogIsACodedErrorWithEventAndOffset() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smig-bootlog-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let bytes = try Data(contentsOf: Self.vectors.appendingPathComponent("glinux-alex.bin"))
        let cut = directory.appendingPathComponent("cut.bin")
        try bytes.prefix(bytes.count - 3).write(to: cut)
        let run = try Run.smig(["bootlog", "replay", cut.path])
        #expect(run.status == 2)
        #expect(run.output.contains("eventlog.truncated") && run.output.contains("(record 28, byte "), "\(run.output)")
        #expect(run.output.components(separatedBy: ", byte ").count == 2, "the offset is named once: \(run.output)")
    }

    /// The AK Name a recorded bundle carries, to pin it with --ak-name.
    static func akName(_ bundle: String) throws -> String {
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: bundle)))
        return try #require((object as? [String: Any])?["akName"] as? String)
    }

    /// The recorded quotes were made for an empty (Windows) or a 2-byte (COS) nonce, shorter than a fresh
    /// challenge must be: the commands check them with --insecure-no-freshness against the bundle's own nonce.
    @Test func verifyChecksTheBootLogAgainstTheQuote() throws {
        let bundle = Self.vector("windows-gcp-shielded-vm.bundle.json")
        let pin = ["--ak-name", try Self.akName(bundle), "--insecure-no-freshness"]
        // The AK signs with RSASSA-SHA1: refused by default, with its own code.
        let weak = try Run.smig(["verify", bundle, "--json"] + pin)
        #expect(weak.status == 1)
        #expect(try weak.json()["code"] as? String == "quote.weak-hash")
        // Allowed for a legacy fleet: the quote is valid and the bundle's boot log replays to it.
        let ok = try Run.smig(["verify", bundle, "--allow-sha1-signatures", "--json"] + pin)
        #expect(ok.status == 0, "\(ok.output)")
        let report = try ok.json()
        #expect(report["result"] as? String == "valid")
        #expect((report["bootLog"] as? [String: Any])?["matches"] as? Bool == true)
        // Another machine's log: rejected, naming the PCR and the first event that diverges.
        let other = try Run.smig(["verify", bundle, "--allow-sha1-signatures", "--boot-log", Self.vector("debian-10.bin"), "--json"] + pin)
        #expect(other.status == 1)
        let otherReport = try other.json()
        #expect(otherReport["code"] as? String == "eventlog.replay-mismatch")
        let divergence = try #require((otherReport["bootLog"] as? [String: Any])?["divergence"] as? [String: Any])
        #expect(divergence["event"] as? Int != nil && divergence["pcr"] as? Int != nil)
        let text = try Run.smig(["verify", bundle, "--allow-sha1-signatures", "--boot-log", Self.vector("debian-10.bin")] + pin)
        #expect(text.output.contains("diverges at event"), "\(text.output)")
    }

    /// A real SHA-384 quote (RSASSA-SHA256) with its boot log: valid, and the log replays to it.
    @Test func verifyASHA384QuoteWithItsBootLog() throws {
        let bundle = Self.vector("gce-cos-85-nonce9009.sha384.bundle.json")
        let pin = ["--ak-name", try Self.akName(bundle), "--insecure-no-freshness"]
        let run = try Run.smig(["verify", bundle, "--pcrs", "sha384:0-23", "--json"] + pin)
        #expect(run.status == 0, "\(run.output)")
        let bootLog = try #require(try run.json()["bootLog"] as? [String: Any])
        #expect(bootLog["matches"] as? Bool == true)
        #expect((bootLog["compared"] as? [String])?.first?.hasPrefix("sha384:0,1,2") == true)
        let text = try Run.smig(["verify", bundle, "--boot-log", Self.vector("gce-cos-85-nonce9009.bin")] + pin)
        #expect(text.status == 0 && text.output.contains("replays to the quoted PCRs sha384:"), "\(text.output)")
    }

    /// The benchmark runs its three runs on a real log and reports them against the raw-hashing baseline.
    @Test func benchBootLogReportsAgainstRawHashing() throws {
        let run = try Run.smig(["bench", "bootlog", Self.vector("rhel8-uefi.bin"), "--seconds", "0.05", "--rounds", "1", "--json"])
        #expect(run.status == 0, "\(run.output)")
        let report = try run.json()
        #expect(report["events"] as? Int == 83 && report["banks"] as? [String] == ["sha1", "sha256", "sha384"])
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(rows.map { $0["name"] as? String } == ["raw hashing", "parse + replay", "parse"])
        #expect(rows.allSatisfy { ($0["eventsPerSecond"] as? Double ?? 0) > 0 })
        #expect(rows.first?["ratio"] as? Double == 1)
        let missing = try Run.smig(["bench", "bootlog", "/nonexistent/log"])
        #expect(missing.status == 2 && missing.output.contains("cannot read /nonexistent/log"), "\(missing.output)")
    }
}
