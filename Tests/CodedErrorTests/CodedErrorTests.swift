import Attestation
import CodedError
import StateFiles
import Testing
import TPMWire

@Suite("Coded errors")
struct CodedErrorTests {
    /// Two errors are equal, and hash alike, when their codes are: the words beside the code are for people.
    @Test func equalByCodeAlone() {
        let a = TPMWireError(.truncated, "4 bytes short", offset: 10)
        let b = TPMWireError(.truncated, "another reason", offset: nil)
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        #expect(a != TPMWireError(.trailingBytes, "4 bytes short", offset: 10))
        #expect(Set([a, b, TPMWireError(.badValue, "x")]).count == 2)
        #expect(StateFileError(.symlink, path: "/a", "a link") == StateFileError(.symlink, path: "/b", "other"))
        #expect(StateFileError(.symlink, path: "/a", "a link") != StateFileError(.io, path: "/a", "a link"))
    }

    /// A code prints as itself, in every module's error and inside its description.
    @Test func codesPrintAsThemselves() {
        #expect(TPMWireError.Code.truncated.description == "wire.truncated")
        #expect("\(AttestationError.Code(rawValue: "quote.bad-signature"))" == "quote.bad-signature")
        #expect(TPMWireError(.truncated, "4 bytes short", offset: 10).description == "wire.truncated: 4 bytes short (at byte 10)")
        #expect(StateFileError(.symlink, path: "/a", "a link").description == "state.symlink: /a: a link")
    }
}
