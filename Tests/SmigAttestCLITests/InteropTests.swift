import Foundation
import Testing

/// Both directions of tpm2-tools interoperability, through the real executable.
@Suite("tpm2-tools interoperability", .serialized)
struct InteropTests {
    @Test(arguments: ["ecc", "rsa"])
    func smigQuotePassesTpm2Checkquote(ak: String) throws {
        let w = try CLIWorld()
        let provision = try w.smig(["tpm", "provision", "--ak", ak, "--json"])
        #expect(provision.status == 0, "\(provision.output)")
        #expect(try provision.json()["ekCertificate"] as? String == "matches")
        #expect(try w.smig(["pcr", "extend", "15", "--data", "xen-4.17"]).status == 0)
        let nonce = "5eed00112233445566778899aabbccddeeff0011"
        let q = try w.smig(["quote", "--nonce", nonce, "--pcrs", "sha256:0-7,15", "--out", w.path("b.json"), "--tpm2-tools", w.path("q")])
        #expect(q.status == 0, "\(q.output)")
        let check = try w.tool("tpm2_checkquote", ["-u", "\(w.state)/ak.pem", "-m", w.path("q.msg"), "-s", w.path("q.sig"),
                                                   "-f", w.path("q.pcrs"), "-g", "sha256", "-q", nonce])
        #expect(check.status == 0, "tpm2_checkquote: \(check.output)")
        // tpm2_checkquote also rejects what we reject.
        let wrong = try w.tool("tpm2_checkquote", ["-u", "\(w.state)/ak.pem", "-m", w.path("q.msg"), "-s", w.path("q.sig"),
                                                   "-f", w.path("q.pcrs"), "-g", "sha256", "-q", "00" + nonce])
        #expect(wrong.status != 0)
        // And our own verifier accepts the bundle and the tpm2-tools files alike.
        let v = try w.smig(["verify", w.path("b.json"), "--ak-public", "\(w.state)/ak.pub", "--nonce", nonce, "--pcrs", "sha256:0-7,15", "--json"])
        #expect(v.status == 0, "\(v.output)")
        #expect(try v.json()["result"] as? String == "valid")
        let vt = try w.smig(["verify", "--ak-public", "\(w.state)/ak.pub", "--message", w.path("q.msg"), "--signature", w.path("q.sig"),
                             "--pcr-file", w.path("q.pcrs"), "--nonce", nonce])
        #expect(vt.status == 0, "\(vt.output)")
    }

    @Test(arguments: [("ecc", "ecdsa"), ("rsa", "rsassa")])
    func tpm2QuotePassesSmigVerify(alg: String, scheme: String) throws {
        let w = try CLIWorld()
        let steps: [[String]] = [
            ["tpm2_createek", "-G", "rsa", "-c", w.path("ek.ctx"), "-u", w.path("ek.pub")],
            ["tpm2_createak", "-C", w.path("ek.ctx"), "-G", alg, "-g", "sha256", "-s", scheme, "-c", w.path("ak.ctx"), "-u", w.path("ak.pub"), "-n", w.path("ak.name")],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_pcrextend", "15:sha256=" + String(repeating: "ab", count: 32)],
            ["tpm2_quote", "-c", w.path("ak.ctx"), "-l", "sha256:0,1,2,3,4,5,6,7,15", "-q", "c0ffee00112233445566778899aabbcc", "-m", w.path("t.msg"), "-s", w.path("t.sig"), "-o", w.path("t.pcrs"), "-g", "sha256"],
            ["tpm2_flushcontext", "-t"],
        ]
        for step in steps {
            let r = try w.tool(step[0], Array(step.dropFirst()))
            #expect(r.status == 0, "\(step.joined(separator: " ")): \(r.output)")
        }
        let files = ["--ak-public", w.path("ak.pub"), "--message", w.path("t.msg"), "--signature", w.path("t.sig"), "--pcr-file", w.path("t.pcrs")]
        let ok = try w.smig(["verify"] + files + ["--nonce", "c0ffee00112233445566778899aabbcc", "--json"])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(try ok.json()["result"] as? String == "valid")
        let replay = try w.smig(["verify"] + files + ["--nonce", "c0ffef00112233445566778899aabbcc", "--json"])
        #expect(replay.status == 1)
        #expect(try replay.json()["code"] as? String == "quote.nonce-mismatch")
        let fewer = try w.smig(["verify"] + files + ["--nonce", "c0ffee00112233445566778899aabbcc", "--pcrs", "sha256:0-7", "--json"])
        #expect(fewer.status == 1)
        #expect(try fewer.json()["code"] as? String == "quote.selection-mismatch")
        let sha1 = try w.smig(["verify"] + files + ["--nonce", "c0ffee00112233445566778899aabbcc", "--pcrs", "sha1:0-7,15", "--json"])
        #expect(sha1.status == 1)
        #expect(try sha1.json()["code"] as? String == "quote.bank-mismatch")
    }

    /// tpm2_quote with a 2-byte nonce and with none (as cloud vTPM test quotes and tpm2-tools examples are made):
    /// refused without a waiver, valid under the named waivers with a WARNING on stderr and in --json, and the nonce
    /// is still compared under --insecure-short-nonce.
    @Test func shortAndEmptyNonceQuotesPassOnlyUnderNamedWaivers() throws {
        let w = try CLIWorld()
        let steps: [[String]] = [
            ["tpm2_createek", "-G", "rsa", "-c", w.path("ek.ctx"), "-u", w.path("ek.pub")],
            ["tpm2_createak", "-C", w.path("ek.ctx"), "-G", "ecc", "-g", "sha256", "-s", "ecdsa", "-c", w.path("ak.ctx"), "-u", w.path("ak.pub"), "-n", w.path("ak.name")],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_quote", "-c", w.path("ak.ctx"), "-l", "sha256:0,1,15", "-q", "0102", "-m", w.path("s.msg"), "-s", w.path("s.sig"), "-o", w.path("s.pcrs"), "-g", "sha256"],
            ["tpm2_flushcontext", "-t"],
            ["tpm2_quote", "-c", w.path("ak.ctx"), "-l", "sha256:0,1,15", "-m", w.path("e.msg"), "-s", w.path("e.sig"), "-o", w.path("e.pcrs"), "-g", "sha256"],
            ["tpm2_flushcontext", "-t"],
        ]
        for step in steps {
            let r = try w.tool(step[0], Array(step.dropFirst()))
            #expect(r.status == 0, "\(step.joined(separator: " ")): \(r.output)")
        }
        func files(_ p: String) -> [String] {
            ["verify", "--ak-public", w.path("ak.pub"), "--message", w.path("\(p).msg"), "--signature", w.path("\(p).sig"), "--pcr-file", w.path("\(p).pcrs"), "--json"]
        }
        func waived(_ r: Run, _ flag: String) throws {
            #expect(r.status == 0, "\(r.output)")
            #expect(try r.json()["result"] as? String == "valid", "\(r.output)")
            let warnings = try #require(try r.json()["warnings"] as? [String], "\(r.output)")
            #expect(warnings.count == 1 && warnings[0].hasPrefix(flag), "\(warnings)")
            #expect(r.output.contains("smig-attest: WARNING: INSECURE \(flag)"), "on stderr: \(r.output)")
        }

        let refused = try w.smig(files("s") + ["--nonce", "0102"])
        #expect(refused.status == 1)
        #expect(try refused.json()["code"] as? String == "quote.nonce-too-short")
        #expect(try (refused.json()["reason"] as? String)?.contains("--insecure-short-nonce") == true, "\(refused.output)")
        try waived(try w.smig(files("s") + ["--nonce", "0102", "--insecure-short-nonce"]), "--insecure-short-nonce")
        let other = try w.smig(files("s") + ["--nonce", "0103", "--insecure-short-nonce"])
        #expect(other.status == 1)
        #expect(try other.json()["code"] as? String == "quote.nonce-mismatch")
        try waived(try w.smig(files("s") + ["--insecure-no-freshness"]), "--insecure-no-freshness")

        #expect(try w.smig(files("e")).status == 1, "no nonce given: quote.nonce-not-given")
        try waived(try w.smig(files("e") + ["--nonce", "", "--insecure-short-nonce"]), "--insecure-short-nonce")
        try waived(try w.smig(files("e") + ["--insecure-no-freshness"]), "--insecure-no-freshness")
        let full = try w.smig(files("s") + ["--nonce", String(repeating: "01", count: 16), "--insecure-short-nonce"])
        let fullWarnings = try full.json()["warnings"]
        #expect(full.status == 1 && fullWarnings == nil, "a 16-byte nonce needs no waiver: \(full.output)")
    }
}

@Suite("CLI behaviour", .serialized)
struct CLIBehaviourTests {
    /// Pads a one-byte test nonce to the 16 bytes a challenge needs.
    let pad = String(repeating: "ee", count: 15)

    @Test func clockGoingBackAndRebootsAreReported() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        #expect(try w.smig(["quote", "--nonce", "01" + pad, "--out", w.path("b.json")]).status == 0)
        let first = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "01" + pad, "--json"])
        let clock = try #require(try first.json()["clock"] as? [String: Any])
        let reset = try #require(clock["resetCount"] as? Int)
        let ticks = try #require(clock["clock"] as? Int)
        func previous(_ c: Int, _ r: Int, _ s: Int) throws -> String {
            let p = w.path("prev-\(c)-\(r)-\(s).json")
            try Data(#"{"clock":\#(c),"resetCount":\#(r),"restartCount":\#(s)}"#.utf8).write(to: URL(fileURLWithPath: p))
            return p
        }
        let back = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "01" + pad, "--json", "--previous", try previous(ticks, reset + 1, 0)])
        #expect(back.status == 1)
        #expect(try back.json()["code"] as? String == "quote.reset-count-went-back")
        if reset > 0 {
            let rebooted = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "01" + pad, "--json", "--previous", try previous(ticks + 1000, reset - 1, 0)])
            #expect(rebooted.status == 3)
            #expect(try rebooted.json()["result"] as? String == "rebooted")
        }
        let fine = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "01" + pad, "--previous", try previous(max(0, ticks - 1), reset, clock["restartCount"] as? Int ?? 0)])
        #expect(fine.status == 0, "\(fine.output)")
    }

    @Test func pcrJSONListsPCRsInNaturalOrder() throws {
        let w = try CLIWorld()
        let r = try w.smig(["pcr", "read", "sha256:15,2,10,1", "--json"])
        #expect(r.status == 0, "\(r.output)")
        let positions = ["\"1\"", "\"2\"", "\"10\"", "\"15\""].map { r.output.range(of: $0)?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil }, "\(r.output)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "PCR 2 before 10 and 15: \(r.output)")
    }

    @Test func badInputIsOneClearLine() throws {
        let w = try CLIWorld()
        let noKey = try w.smig(["quote", "--nonce", "01" + pad])
        let shortNonce = try w.smig(["quote", "--nonce", "01"])
        #expect(shortNonce.status == 2 && shortNonce.output.contains("quote.nonce-too-short"), "\(shortNonce.output)")
        #expect(noKey.status == 1 && noKey.output.contains("tpm provision"))
        let badSel = try w.smig(["quote", "--pcrs", "md5:0"])
        #expect(badSel.status != 0 && badSel.output.contains("sha256"))
        let badPCR = try w.smig(["pcr", "extend", "99", "--data", "x"])
        #expect(badPCR.status != 0 && badPCR.output.contains("0-23"))
        try Data("{\"version\":1".utf8).write(to: URL(fileURLWithPath: w.path("garbage.json")))
        let garbage = try w.smig(["verify", w.path("garbage.json"), "--insecure-self-consistency-only", "--insecure-no-freshness", "--json"])
        #expect(garbage.status == 1)
        #expect(try garbage.json()["code"] as? String == "evidence.malformed")
        let badTCTI = try Run.smig(["tpm", "info", "--tcti", "swtpm:host=127.0.0.1,port=1"])
        #expect(badTCTI.status == 1 && badTCTI.output.split(separator: "\n").count == 1, "\(badTCTI.output)")
        // An existing AK is not replaced silently.
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let other = try w.smig(["tpm", "provision", "--ak", "rsa"])
        #expect(other.status == 1 && other.output.contains("--force"))
    }

    @Test func measureExtendQuoteAndEvaluateAgainstGolden() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let target = w.path("hypervisor.bin")
        try Data("good hypervisor".utf8).write(to: URL(fileURLWithPath: target))
        let captured = try w.smig(["golden", "capture", "--source", "file:\(target)"])
        #expect(captured.status == 0, "\(captured.output)")
        try Data(captured.output.utf8).write(to: URL(fileURLWithPath: w.path("golden.yaml")))
        let m1 = try w.smig(["measure", "--source", "file:\(target)", "--extend", "--json"])
        #expect(m1.status == 0, "\(m1.output)")
        #expect((try m1.json()["extended"] as? [Int])?.count == 1)
        let m2 = try w.smig(["measure", "--source", "file:\(target)", "--extend", "--json"])
        #expect((try m2.json()["extended"] as? [Int])?.isEmpty == true, "unchanged measurement re-extended")
        #expect(try w.smig(["quote", "--nonce", "02" + pad, "--pcrs", "sha256:15", "--out", w.path("b.json")]).status == 0)
        let good = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", "02" + pad, "--golden", w.path("golden.yaml"), "--json"])
        #expect(good.status == 0, "\(good.output)")
        // The hypervisor changes: measured, extended, and the verdict turns untrusted naming it.
        try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: target))
        #expect(try w.smig(["measure", "--source", "file:\(target)", "--extend"]).status == 0)
        #expect(try w.smig(["quote", "--nonce", "03" + pad, "--pcrs", "sha256:15", "--out", w.path("b2.json")]).status == 0)
        let bad = try w.smig(["verify", w.path("b2.json"), "--ak-public", w.akPub, "--nonce", "03" + pad, "--golden", w.path("golden.yaml"), "--json"])
        #expect(bad.status == 4, "\(bad.output)")
        let evaluation = try #require(try bad.json()["evaluation"] as? [String: Any])
        #expect(evaluation["trusted"] as? Bool == false)
        #expect(((evaluation["reasons"] as? [String]) ?? []).contains { $0.contains("hypervisor.bin") })
    }
}
