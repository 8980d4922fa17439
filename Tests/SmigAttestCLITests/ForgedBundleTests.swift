import Attestation
import Crypto
import Foundation
import Testing
import TPMWire

/// The attack from the trust-anchor work, through the real binary: a genuine quote's attest bytes (right magic,
/// nonce and PCR digest) re-signed with a software P-256 key wrapped in a TPM2B_PUBLIC that claims the AK's
/// attributes. No combination of verify's options accepts it; the genuine bundle passes with the pinned AK.
@Suite("Forged bundles through the CLI", .serialized)
struct ForgedBundleTests {
    @Test func forgedBundleIsRefusedWhateverTheOptions() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let nonce = String(repeating: "c3", count: 20)
        #expect(try w.smig(["quote", "--nonce", nonce, "--out", w.path("genuine.json")]).status == 0)
        let genuine = try EvidenceBundle.decode(Data(contentsOf: URL(fileURLWithPath: w.path("genuine.json"))))
        let real = try Public(wireBytes: try genuine.bytes(\.akPublic, "akPublic"))
        guard case .ecc(let sym, let scheme, let curve, let kdf, _, _) = real.publicArea.parameters else { Issue.record("not ECC"); return }
        let soft = P256.Signing.PrivateKey()
        let point = [UInt8](soft.publicKey.x963Representation)
        let fake = Public(PublicArea(nameAlg: real.publicArea.nameAlg, objectAttributes: real.publicArea.objectAttributes, authPolicy: [],
                                     parameters: .ecc(symmetric: sym, scheme: scheme, curve: curve, kdf: kdf, x: Array(point[1..<33]), y: Array(point[33..<65]))))
        let attest = try genuine.bytes(\.attest, "attest")
        let raw = [UInt8](try soft.signature(for: SHA256.hash(data: attest)).rawRepresentation)
        var forged = genuine
        forged.akPublic = Data(fake.wireBytes).base64EncodedString()
        forged.akName = try fake.name.map { String(format: "%02x", $0) }.joined()
        forged.signature = Data(Signature.ecdsa(hash: .sha256, r: Array(raw[0..<32]), s: Array(raw[32..<64])).wireBytes).base64EncodedString()
        try forged.encoded().write(to: URL(fileURLWithPath: w.path("forged.json")))
        // Its fake key, as a forger would hand it over too.
        try Data(fake.wireBytes).write(to: URL(fileURLWithPath: w.path("fake.pub")))

        let akName = try real.name.map { String(format: "%02x", $0) }.joined()
        let attempts: [[String]] = [
            [],
            ["--ak-public", w.akPub, "--nonce", nonce],
            ["--ak-public", "\(w.state)/ak.pem", "--nonce", nonce],
            ["--ak-name", akName, "--nonce", nonce],
            ["--ak-public", w.akPub, "--insecure-no-freshness"],
            ["--insecure-self-consistency-only", "--nonce", nonce],
            ["--insecure-self-consistency-only", "--insecure-no-freshness"],
        ]
        for options in attempts {
            let r = try w.smig(["verify", w.path("forged.json")] + options + ["--json"])
            #expect(r.status != 0, "forged bundle accepted with \(options): \(r.output)")
            #expect(try r.json()["result"] as? String != "valid", "\(options)")
        }
        // The genuine bundle with the pinned AK passes.
        let ok = try w.smig(["verify", w.path("genuine.json"), "--ak-public", w.akPub, "--nonce", nonce, "--json"])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(try ok.json()["result"] as? String == "valid")
    }
}

/// A bundle's measurement log and host id are claims: an edited log, a log the quote does not cover, or another
/// host's name make it invalid even with the right AK and nonce.
@Suite("Bundle claims through the CLI", .serialized)
struct BundleClaimsTests {
    @Test func editedLogAndForeignHostAreRefused() throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        let file = w.path("hv.bin")
        try Data("hypervisor".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try w.smig(["measure", "--source", "file:\(file)", "--extend"]).status == 0)
        let nonce = String(repeating: "d4", count: 16)
        #expect(try w.smig(["quote", "--nonce", nonce, "--host-id", "host-a", "--out", w.path("b.json")]).status == 0)
        let good = try w.smig(["verify", w.path("b.json"), "--ak-public", w.akPub, "--nonce", nonce, "--json"])
        #expect(good.status == 0, "\(good.output)")

        // The log edited to hide the measured digest.
        let text = try String(contentsOfFile: w.path("b.json"), encoding: .utf8)
        let bundle = try EvidenceBundle.decode(Data(text.utf8))
        var edited = bundle
        var records = try #require(bundle.eventLog)
        records[0].content.measurement = String(repeating: "0", count: 64)
        edited.eventLog = records
        try edited.encoded().write(to: URL(fileURLWithPath: w.path("edited.json")))
        let e = try w.smig(["verify", w.path("edited.json"), "--ak-public", w.akPub, "--nonce", nonce, "--json"])
        #expect(e.status == 1)
        #expect(try e.json()["code"] as? String == "evidence.log-mismatch", "\(e.output)")

        // A quote that does not cover PCR 15 cannot vouch for the log.
        #expect(try w.smig(["quote", "--nonce", nonce, "--pcrs", "sha256:0-7", "--out", w.path("short.json")]).status == 0)
        let s = try w.smig(["verify", w.path("short.json"), "--ak-public", w.akPub, "--nonce", nonce, "--json"])
        #expect(s.status == 1)
        #expect(try s.json()["code"] as? String == "evidence.log-not-quoted", "\(s.output)")
    }
}
