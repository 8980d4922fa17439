import Foundation
import Testing
import TPMWire

/// The one hash dispatch: every implemented hash gives its own digest; anything else is an error, never a digest
/// of another algorithm (a Name computed with SHA-256 for an SM3_256 object would be wrong without a word).
@Suite("Hash dispatch")
struct HashDispatchTests {
    @Test(arguments: [(TPMAlgorithm.sha1, 20), (.sha256, 32), (.sha384, 48), (.sha512, 64)])
    func implementedHashes(_ alg: TPMAlgorithm, size: Int) throws {
        let digest = try alg.hash(Array("abc".utf8))
        #expect(digest.count == size)
        #expect(digest.count == alg.digestSize)
        #expect(alg.isImplementedHash)
    }

    @Test func sha256OfABCIsTheKnownVector() throws {
        #expect(try TPMAlgorithm.sha256.hash(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined()
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test(arguments: [TPMAlgorithm.sm3_256, .null, .rsa, .ecdsa, TPMAlgorithm(rawValue: 0x7777)])
    func anythingElseThrows(_ alg: TPMAlgorithm) {
        #expect(!alg.isImplementedHash)
        let error = #expect(throws: TPMWireError.self) { try alg.hash([1, 2, 3]) }
        #expect(error?.code == .unsupportedAlgorithm)
    }

    @Test func anSM3NameIsAnErrorNotASHA256Name() throws {
        var area = AKType.eccP256.template
        area.nameAlg = .sm3_256
        let pub = Public(area)
        #expect(pub.publicArea.nameAlg == .sm3_256)
        let error = #expect(throws: TPMWireError.self) { try pub.name }
        #expect(error?.code == .unsupportedAlgorithm)
        area.nameAlg = .sha256
        let name = try Public(area).name
        #expect(Array(name.prefix(2)) == [0x00, 0x0B] && name.count == 34)
    }

    @Test func jsonIsTheAlgorithmsName() throws {
        let encoded = try JSONEncoder().encode([TPMAlgorithm.sha256, .sm3_256, .ecdsa])
        #expect(String(decoding: encoded, as: UTF8.self) == #"["sha256","sm3_256","ecdsa"]"#)
        #expect(try JSONDecoder().decode([TPMAlgorithm].self, from: encoded) == [.sha256, .sm3_256, .ecdsa])
        let error = #expect(throws: DecodingError.self) { try JSONDecoder().decode([TPMAlgorithm].self, from: Data(#"["sha999"]"#.utf8)) }
        let corrupted: String? = if case .dataCorrupted(let context)? = error { context.debugDescription } else { nil }
        #expect(corrupted == "'sha999' is not a TPM algorithm name", "\(String(describing: error))")
    }

    @Test func implementedHashNamesAreExact() {
        #expect(TPMAlgorithm(implementedHashName: "sha384") == .sha384)
        #expect(TPMAlgorithm(implementedHashName: "SHA384") == nil)
        #expect(TPMAlgorithm(implementedHashName: "sm3_256") == nil)
        #expect(TPMAlgorithm.implementedHashes.sorted() == [.sha1, .sha256, .sha384, .sha512])
    }
}
