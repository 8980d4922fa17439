import Foundation
import Swtpm
import SmigTestSupport
import Testing
import TPM

/// Enrolment as an operator runs it: `rctcb init`, `rctcb serve`, `agent enrol` on a swtpm host, then a quote
/// verified against the enrolled AK, revocation and re-admission — through the real binary.
@Suite("Enrolment through the CLI", .serialized)
struct EnrolmentCLITests {
    /// A region policy of `hosts` (all on 127.0.0.1) written to `path`.
    /// `firstPort`: the agent port of the first host (the others follow).
    static func regionFile(at path: String, hosts: [String], firstPort: Int = 9) throws -> String {
        var text = "kind: region\nversion: 1\nname: test-region\nrc-tcb: {address: 127.0.0.1, port: 8443}\nhosts:\n"
        for (i, h) in hosts.enumerated() { text += "  - {id: \(h), address: 127.0.0.1, port: \(firstPort + i)}\n" }
        text += "ring: [\(hosts.joined(separator: ", "))]\nintervals: {measurement: 30s, challenge: 60s}\nquote-freshness: 180s\nunreachable-timeout: 90s\n"
        text += "on-state: {untrusted: evacuate, unreachable: confirm-then-evacuate, stale: challenge, rebooted: reattest, unknown: challenge}\n"
        text += "targets: {require-state: trusted, max-quote-age: 60s, rechallenge-before-move: true, reattest-after-move: true, prefer: least-loaded, exclude: []}\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    var pad: String { String(repeating: "5a", count: 16) }

    @Test func initServeEnrolVerifyRevoke() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision", "--json"]).status == 0)
        let region = try Self.regionFile(at: w.path("region.yaml"), hosts: ["host-a", "host-b"])
        let dir = w.path("rctcb")
        let ca = w.swtpm.root.appendingPathComponent("localca")
        let initRun = try w.smig(["rctcb", "init", "--region", region, "--dir", dir,
                                  "--ek-ca", ca.appendingPathComponent("swtpm-localca-rootca-cert.pem").path,
                                  "--ek-ca", ca.appendingPathComponent("issuercert.pem").path, "--json"])
        #expect(initRun.status == 0, "\(initRun.output)")
        for key in ["region-ca.key", "rctcb.key", "admin.key"] {
            let mode = (try FileManager.default.attributesOfItem(atPath: "\(dir)/\(key)")[.posixPermissions] as? Int) ?? 0
            #expect(mode == 0o600, "\(key) has mode \(String(mode, radix: 8))")
        }
        let again = try w.smig(["rctcb", "init", "--region", region, "--dir", dir])
        #expect(again.status == 1 && again.output.contains("rctcb.directory-exists"), "\(again.output)")

        let portFile = w.path("rctcb.port")
        let server = try Daemon(try TestBinaries.smigAttest(), ["rctcb", "serve", "--region", region, "--dir", dir, "--port", "0", "--port-file", portFile],
                                log: URL(fileURLWithPath: w.path("rctcb.log")))
        defer { server.stop() }
        let port = try server.waitForPort(file: portFile)
        let url = "https://127.0.0.1:\(port)"

        // A host not in the region is refused; the real one enrols.
        let stranger = try w.smig(["agent", "enrol", "--rctcb", url, "--ca", "\(dir)/region-ca.pem", "--host-id", "host-z"])
        #expect(stranger.status == 1 && stranger.output.contains("enrol.unknown-host"), "\(stranger.output)")
        let enrol = try w.smig(["agent", "enrol", "--rctcb", url, "--ca", "\(dir)/region-ca.pem", "--host-id", "host-a", "--json"])
        #expect(enrol.status == 0, "\(enrol.output)\n\(server.output)")
        let akName = try enrol.json()["akName"] as? String
        #expect(akName?.hasPrefix("000b") == true)

        // A quote verifies against the enrolled AK; not against host-b, which has none.
        let nonce = pad
        #expect(try w.smig(["quote", "--nonce", nonce, "--host-id", "host-a", "--out", w.path("b.json")]).status == 0)
        let v = try w.smig(["verify", w.path("b.json"), "--enrolled", "host-a", "--rctcb-dir", dir, "--nonce", nonce, "--json"])
        #expect(v.status == 0, "\(v.output)")
        #expect(try v.json()["akPinnedBy"] as? String == "enrolled:host-a")
        // A bundle that names another host is not host-a's, even with host-a's AK.
        #expect(try w.smig(["quote", "--nonce", nonce, "--host-id", "host-b", "--out", w.path("named-b.json")]).status == 0)
        let named = try w.smig(["verify", w.path("named-b.json"), "--enrolled", "host-a", "--rctcb-dir", dir, "--nonce", nonce, "--json"])
        #expect(named.status == 1)
        #expect(try named.json()["code"] as? String == "evidence.host-mismatch", "\(named.output)")
        let other = try w.smig(["verify", w.path("b.json"), "--enrolled", "host-b", "--rctcb-dir", dir, "--nonce", nonce, "--json"])
        #expect(other.status != 0 && other.output.contains("enrol.not-enrolled"), "\(other.output)")

        // The operator sees the enrolment over mutual TLS with the admin certificate.
        let events = try w.smig(["events", "--rctcb", url, "--dir", dir, "--json"])
        #expect(events.status == 0 && events.output.contains("\"enrolled\""), "\(events.output)")
        #expect(events.output.contains("platform certificate sha256"), "the swtpm's platform certificate was not sent: \(events.output)")

        // Revocation: trust is gone at once; enrolment is refused until re-admission.
        #expect(try w.smig(["rctcb", "revoke", "host-a", "--dir", dir]).status == 0)
        let revoked = try w.smig(["verify", w.path("b.json"), "--enrolled", "host-a", "--rctcb-dir", dir, "--nonce", nonce])
        #expect(revoked.status != 0 && revoked.output.contains("enrol.revoked"), "\(revoked.output)")
        let refused = try w.smig(["agent", "enrol", "--rctcb", url, "--ca", "\(dir)/region-ca.pem", "--host-id", "host-a"])
        #expect(refused.status == 1 && refused.output.contains("enrol.revoked"), "\(refused.output)")
        // The refusals are in the audit trail: the revoked host's under its id, the stranger's under none.
        let all = try w.smig(["events", "--rctcb", url, "--dir", dir, "--json"])
        #expect(all.status == 0, "\(all.output)")
        let refusals = try all.jsonObjects().filter { $0["kind"] as? String == "enrol-refused" }
        #expect(refusals.map { "\($0["host"] as? String ?? "-") \($0["code"] as? String ?? "")" } == ["- enrol.unknown-host", "host-a enrol.revoked"],
                "\(all.output)")
        #expect((refusals.first?["detail"] as? String)?.contains("host-z") == true)
        let text = try w.smig(["events", "--rctcb", url, "--dir", dir])
        #expect(text.output.contains("enrol-refused") && text.output.contains("enrol.revoked"), "\(text.output)")
        // One host's trail.
        let hostA = try w.smig(["events", "--rctcb", url, "--dir", dir, "--host", "host-a", "--json"]).jsonObjects()
        #expect(!hostA.isEmpty && hostA.allSatisfy { $0["host"] as? String == "host-a" })
        #expect(hostA.contains { $0["kind"] as? String == "enrolled" } && hostA.contains { $0["code"] as? String == "enrol.revoked" })
        let badHost = try w.smig(["events", "--rctcb", url, "--dir", dir, "--host", "Host A", "--json"])
        #expect(badHost.status == 2, "\(badHost.output)")
        #expect(try badHost.jsonError()["code"] == "usage.invalid")
        #expect(try w.smig(["rctcb", "readmit", "host-a", "--dir", dir]).status == 0)
        let back = try w.smig(["agent", "enrol", "--rctcb", url, "--ca", "\(dir)/region-ca.pem", "--host-id", "host-a"])
        #expect(back.status == 0, "\(back.output)")
    }

    /// `events --help` says what the command shows: one host's trail with --host, refused enrolments aggregated.
    @Test func eventsHelpSaysWhatItShows() throws {
        let help = try Run.smig(["events", "--help"])
        #expect(help.status == 0)
        for words in ["--host <host>", "Only the events of this host.", "refused reports and enrolments", "enrol-refused", "enrol.unknown-host",
                      "one event whatever ids were sent"] {
            #expect(help.output.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "  ", with: " ").contains(words), "\(words): \(help.output)")
        }
    }

    /// verify refuses unpinned and unfresh checks unless asked by name, and a forged bundle is never "valid".
    @Test func verifyNeedsAPinAndANonce() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let nonce = pad
        #expect(try w.smig(["quote", "--nonce", nonce, "--out", w.path("b.json")]).status == 0)
        let unpinned = try w.smig(["verify", w.path("b.json"), "--nonce", nonce, "--json"])
        #expect(unpinned.status == 1)
        #expect(try unpinned.json()["code"] as? String == "quote.ak-not-pinned")
        let unfresh = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--json"])
        #expect(unfresh.status == 1)
        #expect(try unfresh.json()["code"] as? String == "quote.nonce-not-given")
        let short = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "0102", "--json"])
        #expect(short.status == 1)
        #expect(try short.json()["code"] as? String == "quote.nonce-too-short")
        let waived = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--insecure-no-freshness"])
        #expect(waived.status == 0 && waived.output.contains("WARNING"), "\(waived.output)")
        let selfOnly = try w.smig(["verify", w.path("b.json"), "--insecure-self-consistency-only", "--nonce", nonce, "--json"])
        #expect(selfOnly.status == 1)
        #expect(try selfOnly.json()["result"] as? String == "self-consistent")
        let pem = try w.smig(["verify", w.path("b.json"), "--ak-public", "\(w.state)/ak.pem", "--nonce", nonce, "--json"])
        #expect(pem.status == 0, "\(pem.output)")
        #expect(try pem.json()["akAttributesChecked"] as? Bool == false)
        let byName = try w.smig(["verify", w.path("b.json"), "--ak-name", String(repeating: "0", count: 68), "--nonce", nonce, "--json"])
        #expect(byName.status == 1)
        #expect(try byName.json()["code"] as? String == "quote.ak-mismatch")
    }
}
