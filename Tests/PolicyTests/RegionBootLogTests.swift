import Policy
import Testing

/// A host entry of the region policy says what a TPM reset of the host takes before it is trusted again.
@Suite("Region policy: boot-log")
struct RegionBootLogTests {
    @Test func requiredUnlessTheHostSaysOptional() throws {
        let policy = try RegionPolicy(yaml: RegionEKPinTests.region(a: ", boot-log: optional", b: ", boot-log: required"), file: "r.yaml")
        #expect(policy.hosts.map(\.bootLog) == [.optional, .required, .required])
    }

    static let broken: [BrokenCase] = [
        .init("unknown value", RegionEKPinTests.region(a: ", boot-log: optionl"),
              .badValue, "bad.yaml:6:60: error: 'optionl' is not a valid boot-log of 'host-a'", hint: "did you mean 'optional'?"),
        .init("misspelt key", RegionEKPinTests.region(b: ", bootlog: optional"),
              .unknownKey, "bad.yaml:7:50: error: unknown key 'bootlog' in a host", hint: "did you mean 'boot-log'?"),
        .init("not a word", RegionEKPinTests.region(a: ", boot-log: [required]"),
              .wrongType, "bad.yaml:6:60: error: boot-log of 'host-a' must be a string"),
    ]

    @Test(arguments: broken)
    func rejectedWithPosition(_ broken: BrokenCase) { broken.expectRejected() }
}
