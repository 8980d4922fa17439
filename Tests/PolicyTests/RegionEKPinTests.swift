import Policy
import Testing
import TPMWire

/// A host entry of the region policy may pin the EK the host enrols with; every malformed pin is refused with
/// its code and position.
@Suite("Region policy: EK pins")
struct RegionEKPinTests {
    static let certHash = String(repeating: "5d", count: 32)
    static let ekName = "000b" + String(repeating: "8f", count: 32)

    static func region(a: String = "", b: String = "") -> String {
        replacing(replacing(validRegion, "{id: host-a, address: 10.0.0.11, port: 8443}", "{id: host-a, address: 10.0.0.11, port: 8443\(a)}"),
                  "{id: host-b, address: 10.0.0.12, port: 8443}", "{id: host-b, address: 10.0.0.12, port: 8443\(b)}")
    }

    @Test func pinsByCertificateHashOrName() throws {
        let text = Self.region(a: ", ek-cert-sha256: \(Self.certHash)", b: ", ek-name: \(Self.ekName), ek-cert-sha256: \(String(repeating: "17", count: 32))")
        let policy = try RegionPolicy(yaml: text, file: "r.yaml")
        let a = try #require(policy.hosts.first { $0.id == "host-a" }?.ek)
        #expect(a.certificateSHA256 == Hex.decode(Self.certHash) && a.name == nil)
        let b = try #require(policy.hosts.first { $0.id == "host-b" }?.ek)
        #expect(b.name == Hex.decode(Self.ekName) && b.certificateSHA256 == Hex.decode(String(repeating: "17", count: 32)))
        #expect(policy.hosts.first { $0.id == "host-c" }?.ek == nil)
        // Both keys of a pin must match.
        #expect(b.admits(certificateSHA256: Hex.decode(String(repeating: "17", count: 32))!, name: Hex.decode(Self.ekName)!))
        #expect(!b.admits(certificateSHA256: Hex.decode(Self.certHash)!, name: Hex.decode(Self.ekName)!))
        #expect(!a.admits(certificateSHA256: Hex.decode(String(repeating: "17", count: 32))!, name: Hex.decode(Self.ekName)!))
    }

    static let broken: [BrokenCase] = [
        .init("misspelt key", region(a: ", ek-cert-sha265: \(certHash)"),
              .unknownKey, "bad.yaml:6:50: error: unknown key 'ek-cert-sha265' in a host", hint: "did you mean 'ek-cert-sha256'?"),
        .init("certificate hash not hex", region(a: ", ek-cert-sha256: \(String(repeating: "zz", count: 32))"),
              .badDigest, "bad.yaml:6:66: error: ek-cert-sha256 of 'host-a' '\(String(repeating: "zz", count: 32))' is not hexadecimal"),
        .init("certificate hash of sha1 length", region(a: ", ek-cert-sha256: \(String(repeating: "ab", count: 20))"),
              .badDigestLength, "bad.yaml:6:66: error: ek-cert-sha256 of 'host-a' has 40 hex digits, expected 64 for sha256",
              hint: "this looks like a sha1 digest; compute it with sha256sum"),
        .init("name with an odd digit count", region(a: ", ek-name: \(ekName.dropLast())"),
              .badDigest, "bad.yaml:6:59: error: ek-name of 'host-a' '\(ekName.dropLast())' is not an even number of hex digits"),
        .init("name without a name algorithm", region(a: ", ek-name: 0001\(String(repeating: "8f", count: 32))"),
              .badValue, "bad.yaml:6:59: error: ek-name of 'host-a' starts with 0001, not a name algorithm"),
        .init("name of the wrong length", region(a: ", ek-name: 000c\(String(repeating: "8f", count: 32))"),
              .badDigestLength, "bad.yaml:6:59: error: ek-name of 'host-a' has 68 hex digits, expected 100 for a sha384 Name"),
        .init("one EK pinned for two hosts", region(a: ", ek-cert-sha256: \(certHash)", b: ", ek-cert-sha256: \(certHash)"),
              .duplicateEntry, "bad.yaml:7:66: error: host 'host-b' pins the same EK as 'host-a'"),
    ]

    @Test(arguments: broken)
    func rejectedWithPosition(_ broken: BrokenCase) { broken.expectRejected() }
}
