import ArgumentParser
import RegionTCB
import SmigAttestCLI
import Testing

/// `rctcb readmit` says which EK may enrol next: one choice, the EK it enrolled with unless told otherwise.
@Suite("rctcb readmit")
struct ReadmitCommandTests {
    static let hash = String(repeating: "ab", count: 32)

    @Test func oneEKChoiceDefaultingToTheSameEK() throws {
        #expect(try RCTCBCommand.Readmit.parse(["host-2", "--dir", "d"]).allowance == .sameEK)
        #expect(try RCTCBCommand.Readmit.parse(["host-2", "--dir", "d", "--same-ek"]).allowance == .sameEK)
        #expect(try RCTCBCommand.Readmit.parse(["host-2", "--dir", "d", "--any-ek"]).allowance == .anyEK)
        #expect(try RCTCBCommand.Readmit.parse(["host-2", "--dir", "d", "--ek-cert-sha256", Self.hash]).allowance == .certificateSHA256(Array(repeating: 0xab, count: 32)))
        let two = #expect(throws: (any Error).self) { try RCTCBCommand.Readmit.parse(["host-2", "--dir", "d", "--any-ek", "--ek-cert-sha256", Self.hash]) }
        #expect(two.map(RCTCBCommand.Readmit.message(for:)) == "give one of --same-ek, --any-ek, --ek-cert-sha256")
        let short = #expect(throws: (any Error).self) { try RCTCBCommand.Readmit.parse(["host-2", "--dir", "d", "--ek-cert-sha256", "abcd"]) }
        #expect(short.map(RCTCBCommand.Readmit.message(for:)) == "--ek-cert-sha256 must be 64 hex digits (the SHA-256 of the EK certificate's DER)")
    }
}
