import Foundation
import Policy
import TPMWire
import Testing

let digestA = String(repeating: "a", count: 64)
let digestB = String(repeating: "b", count: 64)

let validGolden = """
kind: golden-values
version: 1
name: test-golden
measurements:
  "file:/boot/xen.gz":
    sha256: [\(digestA)]
    required: true
  "xen:build-id":
    values: ["151b373fd64b321593bf987fd923cd10dabadac4"]
  "kernel-module:*":
    sha256:
      - \(digestB)
pcrs:
  sha256:
    0: [\(digestA)]
    4: \(digestB)

"""

let validRegion = """
kind: region
version: 1
name: region-test
rc-tcb: {address: 10.0.0.10, port: 8443}
hosts:
  - {id: host-a, address: 10.0.0.11, port: 8443}
  - {id: host-b, address: 10.0.0.12, port: 8443}
  - {id: host-c, address: 10.0.0.13, port: 8443}
ring: [host-a, host-b, host-c]
intervals:
  measurement: 30s
  challenge: 60s
quote-freshness: 180s
unreachable-timeout: 90s
on-state:
  untrusted: evacuate
  unreachable: confirm-then-evacuate
targets:
  max-quote-age: 120s
  exclude: [host-c]

"""

@Suite("Golden values and region policies")
struct PolicyDecodingTests {
    @Test func validGoldenDecodes() throws {
        let golden = try GoldenValues(yaml: validGolden, file: "g.yaml")
        #expect(golden.name == "test-golden")
        #expect(golden.entries.count == 3)
        #expect(golden.requiredNames == ["file:/boot/xen.gz"])
        #expect(golden.entry(for: "file:/boot/xen.gz")?.sha256 == [[UInt8](repeating: 0xaa, count: 32)])
        #expect(golden.entry(for: "kernel-module:kvm")?.name == "kernel-module:*")
        #expect(golden.entry(for: "kernel-modules") == nil)
        #expect(golden.pcrs[.sha256]?[4] == [[UInt8](repeating: 0xbb, count: 32)])
        #expect(golden.entry(for: "xen:build-id")?.allows(sha256: [], value: "151b373fd64b321593bf987fd923cd10dabadac4") == true)
    }

    @Test func validRegionDecodes() throws {
        let region = try RegionPolicy(yaml: validRegion, file: "r.yaml")
        #expect(region.hosts.map(\.id) == ["host-a", "host-b", "host-c"])
        #expect(region.neighbour(of: "host-c") == "host-a")
        #expect(region.challengeInterval == .seconds(60))
        #expect(region.quoteFreshness == .seconds(180))
        #expect(region.actions[.unreachable] == .confirmThenEvacuate)
        #expect(region.actions[.stale] == .challenge)
        #expect(region.targets.maxQuoteAge == .seconds(120))
        #expect(region.targets.exclude == ["host-c"])
        #expect(region.rcTCB == .init(address: "10.0.0.10", port: 8443))
    }

    @Test func silentRecoveryDefaultsToKeepingTheVMsPaused() throws {
        #expect(try RegionPolicy(yaml: validRegion, file: "r.yaml").evacuation.silentRecovered == .keepPaused)
        let resume = try RegionPolicy(yaml: validRegion + "evacuation:\n  max-parallel: 2\n  silent-recovered: resume-in-place\n", file: "r.yaml")
        #expect(resume.evacuation.silentRecovered == .resumeInPlace)
        #expect(resume.evacuation.maxParallel == 2)
        let keep = try RegionPolicy(yaml: validRegion + "evacuation: {silent-recovered: keep-paused}\n", file: "r.yaml")
        #expect(keep.evacuation.silentRecovered == .keepPaused)
    }

    @Test func anExecutorIsAnArgvWithATimeOutAndAgentsMayBeSilentForALimit() throws {
        let plain = try RegionPolicy(yaml: validRegion, file: "r.yaml")
        #expect(plain.evacuation.executor == nil && plain.migration.agentSilenceLimit == .seconds(60))
        #expect(plain.migration.transferTimeLimit == .seconds(600))
        let region = try RegionPolicy(yaml: validRegion + """
            migration: {agent-silence-limit: 20s, transfer-time-limit: 2m}
            evacuation:
              executor:
                command: [/usr/local/bin/nova-live-evacuate, --os-cloud, "prod west"]
                timeout: 15m

            """, file: "r.yaml")
        #expect(region.evacuation.executor == .init(command: ["/usr/local/bin/nova-live-evacuate", "--os-cloud", "prod west"], timeout: .seconds(900)))
        #expect(region.migration.agentSilenceLimit == .seconds(20))
        #expect(region.migration.transferTimeLimit == .seconds(120))
        let defaulted = try RegionPolicy(yaml: validRegion + "evacuation: {executor: {command: [/opt/move]}}\n", file: "r.yaml")
        #expect(defaulted.evacuation.executor?.timeout == .seconds(600))
    }

    @Test func eachHostSaysWhoMovesItsVMs() throws {
        let region = try RegionPolicy(yaml: validRegion.replacingOccurrences(of: "port: 8443}\n  - {id: host-b", with: "port: 8443, migrations: agent}\n  - {id: host-b"), file: "r.yaml")
        #expect(region.hosts.map(\.migrations) == [.agent, .local, .local])
        let bad = validRegion.replacingOccurrences(of: "{id: host-b, address: 10.0.0.12, port: 8443}", with: "{id: host-b, address: 10.0.0.12, port: 8443, migrations: agents}")
        let error = #expect(throws: PolicyError.self) { try RegionPolicy(yaml: bad, file: "r.yaml") }
        #expect(error?.code == .badValue && error?.line == 7 && "\(error!)".contains("agent"), "\(String(describing: error))")
    }

    @Test func documentKindIsDetected() throws {
        guard case .region = try PolicyDocument(yaml: validRegion, file: "r.yaml") else {
            Issue.record("expected a region")
            return
        }
        guard case .goldenValues = try PolicyDocument(yaml: validGolden, file: "g.yaml") else {
            Issue.record("expected golden values")
            return
        }
    }

    @Test func descriptionHasCompilerShape() {
        let error = PolicyError(.unknownKey, file: "x.yaml", line: 3, column: 5, message: "unknown key 'a'", hint: "h")
        #expect(error.description == "x.yaml:3:5: error: unknown key 'a' (hint: h)")
    }
}

/// One broken policy file and the exact message it must produce.
struct BrokenCase: CustomTestStringConvertible, Sendable {
    let label: String
    let yaml: String
    let code: PolicyError.Code
    /// The expected `FILE:LINE:COL: error: MESSAGE` prefix (the hint is checked separately where given).
    let expected: String
    let hint: String?

    init(_ label: String, _ yaml: String, _ code: PolicyError.Code, _ expected: String, hint: String? = nil) {
        self.label = label
        self.yaml = yaml
        self.code = code
        self.expected = expected
        self.hint = hint
    }

    var testDescription: String { label }

    /// The file is refused with the case's code, position, message and hint.
    func expectRejected() {
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.description.hasPrefix(expected) == true, "\(String(describing: error))")
        if let hint { #expect(error?.hint == hint, "\(String(describing: error))") }
    }
}

func replacing(_ text: String, _ old: String, _ new: String) -> String {
    precondition(text.contains(old), "fixture does not contain \(old)")
    return text.replacingOccurrences(of: old, with: new)
}

let brokenCases: [BrokenCase] = [
    // --- golden values ---
    .init("golden: unknown top-level key", replacing(validGolden, "name: test-golden", "name: test-golden\nnmae: x"),
          .unknownKey, "bad.yaml:4:1: error: unknown key 'nmae' in the golden-values document", hint: "did you mean 'name'?"),
    .init("golden: misspelt sha256", replacing(validGolden, "    sha256: [\(digestA)]", "    sha265: [\(digestA)]"),
          .unknownKey, "bad.yaml:6:5: error: unknown key 'sha265' in measurement 'file:/boot/xen.gz'",
          hint: "did you mean 'sha256'?"),
    .init("golden: short digest", replacing(validGolden, "    sha256: [\(digestA)]", "    sha256: [abcd]"),
          .badDigestLength, "bad.yaml:6:14: error: sha256 digest of 'file:/boot/xen.gz' has 4 hex digits, expected 64 for sha256"),
    .init("golden: sha1-length digest", replacing(validGolden, "    sha256: [\(digestA)]",
                                                 "    sha256: [\(String(repeating: "1", count: 40))]"),
          .badDigestLength, "bad.yaml:6:14: error: sha256 digest of 'file:/boot/xen.gz' has 40 hex digits, expected 64 for sha256",
          hint: "this looks like a sha1 digest; compute it with sha256sum"),
    .init("golden: one hex digit short", replacing(validGolden, "    sha256: [\(digestA)]", "    sha256: [\(digestA.dropLast())]"),
          .badDigestLength, "bad.yaml:6:14: error: sha256 digest of 'file:/boot/xen.gz' has 63 hex digits, expected 64 for sha256"),
    .init("golden: misspelt source prefix", replacing(validGolden, "\"file:/boot/xen.gz\"", "\"fiel:/boot/xen.gz\""),
          .badValue, "bad.yaml:5:3: error: measurement name 'fiel:/boot/xen.gz' has an unknown source prefix 'fiel'"),
    .init("golden: measurement bound to a process id", replacing(validGolden, "\"file:/boot/xen.gz\"", "\"process-text:pid=123\""),
          .badValue, "bad.yaml:5:3: error: measurement name 'process-text:pid=123' is bound to one process id"),
    .init("golden: non-hex digest", replacing(validGolden, "      - \(digestB)", "      - \(String(repeating: "z", count: 64))"),
          .badDigest, "bad.yaml:12:9: error: sha256 digest of 'kernel-module:*' '\(String(repeating: "z", count: 64))' is not hexadecimal"),
    .init("golden: required is not a bool", replacing(validGolden, "required: true", "required: yes"),
          .wrongType, "bad.yaml:7:15: error: required must be true or false, found 'yes'",
          hint: "write true or false (not yes/no/on/off)"),
    .init("golden: measurements is a list", replacing(validGolden, "  \"file:/boot/xen.gz\":", "  - \"file:/boot/xen.gz\":"),
          .yamlSyntax, "bad.yaml:8:3: error: malformed YAML"),
    .init("golden: entry allows nothing", replacing(validGolden, "    sha256: [\(digestA)]\n    required: true", "    required: true"),
          .missingKey, "bad.yaml:6:5: error: measurement 'file:/boot/xen.gz' allows nothing"),
    .init("golden: PCR index out of range", replacing(validGolden, "    4: \(digestB)", "    24: \(digestB)"),
          .outOfRange, "bad.yaml:16:5: error: PCR index 24 is out of range", hint: "allowed: 0...23"),
    .init("golden: unknown bank", replacing(validGolden, "  sha256:\n    0:", "  sha257:\n    0:"),
          .unknownKey, "bad.yaml:14:3: error: unknown key 'sha257' in pcrs", hint: "did you mean 'sha256'?"),
    .init("golden: sha384 bank with sha256-length value", replacing(validGolden, "  sha256:\n    0:", "  sha384:\n    0:"),
          .badDigestLength, "bad.yaml:15:9: error: PCR 0 value has 64 hex digits, expected 96 for sha384"),
    .init("golden: duplicate measurement name", replacing(validGolden, "  \"kernel-module:*\":", "  \"xen:build-id\":"),
          .duplicateKey, "bad.yaml:8:3: error: duplicate key 'xen:build-id' in one mapping"),
    .init("golden: wrong kind", replacing(validGolden, "kind: golden-values", "kind: golden-value"),
          .unsupportedSchema, "bad.yaml:1:7: error: unknown kind 'golden-value'"),
    .init("golden: version 2", replacing(validGolden, "version: 1", "version: 2"),
          .unsupportedSchema, "bad.yaml:2:10: error: schema version 2 is not supported"),
    .init("golden: missing name", replacing(validGolden, "name: test-golden\n", ""),
          .missingKey, "bad.yaml:1:1: error: the golden-values document is missing the required key 'name'"),
    .init("golden: tab-indented YAML", replacing(validGolden, "    required: true", "\trequired: true"),
          .yamlSyntax, "bad.yaml:7:1: error: malformed YAML"),
    .init("golden: duplicate digest", replacing(validGolden, "    sha256: [\(digestA)]", "    sha256: [\(digestA), \(digestA)]"),
          .duplicateEntry, "bad.yaml:6:80: error: digest listed twice for 'file:/boot/xen.gz'"),
    .init("golden: alias", replacing(validGolden, "  \"xen:build-id\":\n    values:", "  \"xen:build-id\": *x\n  \"y\":\n    values:"),
          .unsupportedYAML, "bad.yaml:8:19: error: malformed YAML"),
    .init("golden: '*' in the middle of a name", replacing(validGolden, "\"kernel-module:*\"", "\"kernel-*:x\""),
          .badValue, "bad.yaml:10:3: error: measurement name 'kernel-*:x' is not valid"),
    .init("golden: required pattern", replacing(validGolden, "      - \(digestB)", "      - \(digestB)\n    required: true"),
          .inconsistent, "bad.yaml:10:3: error: a pattern ('kernel-module:*') cannot be required"),
    .init("golden: two documents", validGolden + "---\n" + validGolden,
          .documentCount, "bad.yaml:1:1: error: the file holds more than one YAML document; a policy is one"),
    // --- region ---
    .init("region: misspelt evacuation key", validRegion + "evacuation:\n  silent-recoverd: keep-paused\n",
          .unknownKey, "bad.yaml:22:3: error: unknown key 'silent-recoverd' in evacuation", hint: "did you mean 'silent-recovered'?"),
    .init("region: executor program by name, not path", validRegion + "evacuation:\n  executor:\n    command: [nova-evacuate, --live]\n",
          .badValue, "bad.yaml:23:15: error: evacuation.executor.command must start with an absolute path, not 'nova-evacuate'",
          hint: "the RC-TCB runs it without a shell or PATH lookup"),
    .init("region: executor without a command", validRegion + "evacuation:\n  executor:\n    comand: [/opt/move]\n",
          .unknownKey, "bad.yaml:23:5: error: unknown key 'comand' in evacuation.executor", hint: "did you mean 'command'?"),
    .init("region: executor with an empty command", validRegion + "evacuation:\n  executor:\n    command: []\n",
          .badValue, "bad.yaml:23:14: error: evacuation.executor.command is empty", hint: "name the program by its absolute path"),
    .init("region: executor time-out over a day", validRegion + "evacuation:\n  executor:\n    command: [/opt/move]\n    timeout: 90000s\n",
          .badValue, "bad.yaml:24:14: error: evacuation.executor.timeout must lie between 1s and 24h"),
    .init("region: agent silence limit under a second", validRegion + "migration:\n  agent-silence-limit: 500ms\n",
          .badValue, "bad.yaml:22:24: error: migration.agent-silence-limit must lie between 1s and 1h"),
    .init("region: transfer time limit over a day", validRegion + "migration:\n  transfer-time-limit: 25h\n",
          .badValue, "bad.yaml:22:24: error: migration.transfer-time-limit must lie between 1s and 24h"),
    .init("region: unknown silent-recovered action", validRegion + "evacuation:\n  silent-recovered: resume\n",
          .badValue, "bad.yaml:22:21: error: 'resume' is not a valid evacuation.silent-recovered"),
    .init("region: duplicate host id", replacing(validRegion, "{id: host-c, address: 10.0.0.13", "{id: host-a, address: 10.0.0.13"),
          .duplicateHost, "bad.yaml:8:10: error: duplicate host id 'host-a'", hint: "first declared at line 6; host ids must be unique"),
    .init("region: duplicate address and port", replacing(validRegion, "address: 10.0.0.13", "address: 10.0.0.12"),
          .duplicateHost, "bad.yaml:8:27: error: host 'host-c' has the same address and port as 'host-b'"),
    .init("region: port out of range", replacing(validRegion, "10.0.0.12, port: 8443", "10.0.0.12, port: 70000"),
          .outOfRange, "bad.yaml:7:44: error: port 70000 is out of range", hint: "allowed: 1...65535"),
    .init("region: port is a string", replacing(validRegion, "10.0.0.12, port: 8443", "10.0.0.12, port: \"8443\""),
          .wrongType, "bad.yaml:7:44: error: port must be an integer, found '8443'"),
    .init("region: ring names unknown host", replacing(validRegion, "ring: [host-a, host-b, host-c]", "ring: [host-a, host-b, host-d]"),
          .unknownHost, "bad.yaml:9:24: error: ring names unknown host 'host-d'", hint: "did you mean 'host-a'?"),
    .init("region: ring leaves a host out", replacing(validRegion, "ring: [host-a, host-b, host-c]", "ring: [host-a, host-b]"),
          .badRing, "bad.yaml:9:7: error: the ring leaves out host-c"),
    .init("region: host twice in ring", replacing(validRegion, "ring: [host-a, host-b, host-c]", "ring: [host-a, host-b, host-a]"),
          .badRing, "bad.yaml:9:24: error: host 'host-a' appears twice in the ring"),
    .init("region: bad duration", replacing(validRegion, "challenge: 60s", "challenge: 60 seconds"),
          .wrongType, "bad.yaml:12:14: error: intervals.challenge must be a duration, found '60 seconds'",
          hint: "write e.g. 500ms, 30s, 5m or 2h"),
    .init("region: duration without a unit", replacing(validRegion, "challenge: 60s", "challenge: 60"),
          .wrongType, "bad.yaml:12:14: error: intervals.challenge '60' has no unit", hint: "write the unit: 60s, 60ms, 60m or 60h"),
    .init("region: unknown action", replacing(validRegion, "untrusted: evacuate", "untrusted: evacuat"),
          .badValue, "bad.yaml:16:14: error: 'evacuat' is not a valid action for 'untrusted'", hint: "did you mean 'evacuate'?"),
    .init("region: alert is not carried out", replacing(validRegion, "untrusted: evacuate", "untrusted: alert"),
          .actionNotCarriedOut, "bad.yaml:16:14: error: the RC-TCB does not carry out 'alert' for 'untrusted'",
          hint: "every state change is already recorded in the audit trail and posted to the webhooks; write one of: evacuate, confirm-then-evacuate, none"),
    .init("region: challenge an untrusted host", replacing(validRegion, "untrusted: evacuate", "untrusted: challenge"),
          .actionNotCarriedOut, "bad.yaml:16:14: error: the RC-TCB does not carry out 'challenge' for 'untrusted'",
          hint: "for 'untrusted' write one of: evacuate, confirm-then-evacuate, none"),
    .init("region: reattest an unreachable host", replacing(validRegion, "unreachable: confirm-then-evacuate", "unreachable: reattest"),
          .actionNotCarriedOut, "bad.yaml:17:16: error: the RC-TCB does not carry out 'reattest' for 'unreachable'",
          hint: "for 'unreachable' write one of: confirm-then-evacuate, evacuate, none"),
    .init("region: unknown state", replacing(validRegion, "  untrusted: evacuate", "  compromised: evacuate"),
          .unknownKey, "bad.yaml:16:3: error: unknown key 'compromised' in on-state"),
    .init("region: freshness shorter than challenge", replacing(validRegion, "quote-freshness: 180s", "quote-freshness: 30s"),
          .inconsistent, "bad.yaml:13:18: error: quote-freshness is shorter than intervals.challenge, so every quote goes stale"),
    .init("region: max-quote-age above freshness", replacing(validRegion, "max-quote-age: 120s", "max-quote-age: 10m"),
          .inconsistent, "bad.yaml:19:18: error: targets.max-quote-age is longer than quote-freshness"),
    .init("region: hosts is a mapping", replacing(validRegion, """
          hosts:
            - {id: host-a, address: 10.0.0.11, port: 8443}
            - {id: host-b, address: 10.0.0.12, port: 8443}
            - {id: host-c, address: 10.0.0.13, port: 8443}
          """, """
          hosts:
            host-a: {address: 10.0.0.11, port: 8443}
          """),
          .wrongType, "bad.yaml:6:3: error: hosts must be a list, found a mapping"),
    .init("region: missing intervals", replacing(validRegion, "intervals:\n  measurement: 30s\n  challenge: 60s\n", ""),
          .missingKey, "bad.yaml:1:1: error: the region document is missing the required key 'intervals'"),
    .init("region: address with a space", replacing(validRegion, "address: 10.0.0.11", "address: \"10.0.0.11 x\""),
          .badValue, "bad.yaml:6:27: error: '10.0.0.11 x' is not an IP address or host name"),
    .init("region: exclude unknown host", replacing(validRegion, "exclude: [host-c]", "exclude: [host-z]"),
          .unknownHost, "bad.yaml:20:13: error: targets.exclude names unknown host 'host-z'"),
    .init("region: missing kind", replacing(validRegion, "kind: region\n", ""),
          .missingKey, "bad.yaml:1:1: error: the document has no 'kind'"),
]

@Suite("Broken policy files")
struct BrokenPolicyTests {
    @Test(arguments: brokenCases)
    func rejectedWithPosition(_ broken: BrokenCase) { broken.expectRejected() }

    @Test func everyIndependentErrorOfAGoldenFileIsReported() throws {
        var text = replacing(validGolden, "\"file:/boot/xen.gz\"", "\"fiel:/boot/xen.gz\"")
        text = replacing(text, "values: [\"151b373fd64b321593bf987fd923cd10dabadac4\"]", "values: [a, a]")
        text = replacing(text, "      - \(digestB)", "      - \(digestB.dropLast())\n      - zz")
        text = replacing(text, "    4: \(digestB)", "    24: \(digestB)")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: text, file: "bad.yaml") }
        let all = try #require(error).all
        #expect(all.map(\.code) == [.badValue, .duplicateEntry, .badDigestLength, .badDigest, .outOfRange], "\(all)")
        #expect(all.map(\.line) == [5, 9, 12, 13, 17], "\(all)")
        #expect(error?.description.split(separator: "\n").count == 5)
    }

    @Test func everyBrokenHostOfARegionIsReported() throws {
        var text = replacing(validRegion, "address: 10.0.0.11", "address: \"10.0.0.11 x\"")
        text = replacing(text, "10.0.0.13, port: 8443", "10.0.0.13, port: 70000")
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(yaml: text, file: "bad.yaml") }
        #expect(try #require(error).all.map(\.line) == [6, 8], "\(String(describing: error))")
    }

    @Test func atLeastTwentyBrokenFiles() {
        #expect(brokenCases.count >= 20)
    }

    @Test func unreadableFile() {
        let error = #expect(throws: PolicyError.self) { try PolicyDocument(contentsOfFile: "/nonexistent/policy.yaml") }
        #expect(error?.code == .unreadable)
        #expect(error?.file == "/nonexistent/policy.yaml")
    }
}

@Suite("Shipped policies")
struct ShippedPolicyTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("policies").path

    @Test(arguments: ["debian-12-xen-4.17.golden.yaml", "debian-12-qemu-host.golden.yaml", "region-example.yaml"])
    func parses(_ name: String) throws {
        _ = try PolicyDocument(contentsOfFile: "\(Self.directory)/\(name)")
    }

    @Test func xenGoldenPinsTheBuildID() throws {
        let golden = try GoldenValues(contentsOfFile: "\(Self.directory)/debian-12-xen-4.17.golden.yaml")
        let entry = try #require(golden.entry(for: "xen:build-id"))
        #expect(entry.values == ["151b373fd64b321593bf987fd923cd10dabadac4"])
        #expect(entry.required)
    }

    @Test func regionHasFiveHostsInARing() throws {
        let region = try RegionPolicy(contentsOfFile: "\(Self.directory)/region-example.yaml")
        #expect(region.hosts.count == 5)
        #expect(Set(region.ring) == Set(region.hosts.map(\.id)))
        #expect(region.neighbour(of: "qemu-e") == "xen-a")
    }
}
