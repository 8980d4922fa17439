import Attestation
import Foundation
import Testing
import TPMWire

/// AK public areas that a TPM would not make for attestation, built in the test from the swtpm vectors.
@Suite("Attestation key checks")
struct AttestationKeyCheckTests {
    static func area(_ vector: String) throws -> PublicArea {
        try Public(wireBytes: try QuoteVector.load(vector).akPublic).publicArea
    }

    /// The key from the TPM2B_PUBLIC bytes of `area`, parsed back as a verifier would receive them.
    static func key(_ area: PublicArea) throws(AttestationError) -> AttestationKey {
        try AttestationKey(tpm2bPublic: Public(area).wireBytes)
    }

    @Test(arguments: QuoteVector.names)
    func vectorsPass(_ name: String) throws {
        let area = try Self.area(name)
        #expect(try Self.key(area).publicKey?.publicArea == area)
    }

    @Test(arguments: QuoteVector.names, [UInt32(1) << 0, 1 << 3, 1 << 8, 1 << 9, 1 << 12, 1 << 20, 1 << 31])
    func reservedBitsAreRefused(_ name: String, _ bit: UInt32) throws {
        var area = try Self.area(name)
        area.objectAttributes = ObjectAttributes(rawValue: area.objectAttributes.rawValue | bit)
        let error = #expect(throws: AttestationError.self) { try Self.key(area) }
        #expect(error?.code.rawValue == "quote.key-reserved-attributes")
    }

    @Test(arguments: QuoteVector.names)
    func sensitiveDataOriginIsRequired(_ name: String) throws {
        var area = try Self.area(name)
        area.objectAttributes.remove(.sensitiveDataOrigin)
        let error = #expect(throws: AttestationError.self) { try Self.key(area) }
        #expect(error?.code.rawValue == "quote.key-not-tpm-generated")
    }

    @Test(arguments: QuoteVector.names)
    func userWithAuthIsNotRequired(_ name: String) throws {
        var area = try Self.area(name)
        area.objectAttributes.remove(.userWithAuth)
        area.objectAttributes.insert(.adminWithPolicy)
        #expect(try Self.key(area).publicKey?.publicArea == area)
    }

    @Test(arguments: QuoteVector.names)
    func sha1NameAlgIsRefused(_ name: String) throws {
        var area = try Self.area(name)
        area.nameAlg = .sha1
        let error = #expect(throws: AttestationError.self) { try Self.key(area) }
        #expect(error?.code.rawValue == "quote.key-weak-name-alg")
        area.nameAlg = .sha384
        #expect(try Self.key(area).publicKey?.publicArea == area)
    }

    static func withExponent(_ exponent: UInt32) throws -> PublicArea {
        var area = try Self.area("quote-rsa2048")
        guard case let .rsa(symmetric, scheme, bits, _, modulus) = area.parameters else {
            throw VectorShape()
        }
        area.parameters = .rsa(symmetric: symmetric, scheme: scheme, keyBits: bits, exponent: exponent, modulus: modulus)
        return area
    }

    struct VectorShape: Error {}

    @Test(arguments: [UInt32(1), 2, 3, 17, 65535, 65539, 0xFFFF_FFFF])
    func rsaExponentOtherThan65537IsRefused(_ exponent: UInt32) throws {
        let area = try Self.withExponent(exponent)
        let error = #expect(throws: AttestationError.self) { try Self.key(area) }
        #expect(error?.code.rawValue == "quote.key-bad-exponent")
    }

    @Test(arguments: [UInt32(0), 65537])
    func rsaExponent65537IsAccepted(_ exponent: UInt32) throws {
        let area = try Self.withExponent(exponent)
        #expect(try Self.key(area).publicKey?.publicArea == area)
    }

    @Test func rsaKeySizesOutsideTheTPMsAreRefused() throws {
        var area = try Self.area("quote-rsa2048")
        guard case let .rsa(symmetric, scheme, _, exponent, modulus) = area.parameters else { throw VectorShape() }
        area.parameters = .rsa(symmetric: symmetric, scheme: scheme, keyBits: 2056, exponent: exponent, modulus: modulus + [0xFF])
        let error = #expect(throws: AttestationError.self) { try Self.key(area) }
        #expect(error?.code.rawValue == "quote.malformed-key")
    }

    @Test func cryptoLibraryFailureIsACodedError() throws {
        // A modulus with a zero top byte has the right length for 2048 bits but is a 2040-bit number: every
        // structural check passes, the crypto library refuses the key, and the error is ours.
        var area = try Self.area("quote-rsa2048")
        guard case let .rsa(symmetric, scheme, bits, exponent, modulus) = area.parameters else { throw VectorShape() }
        area.parameters = .rsa(symmetric: symmetric, scheme: scheme, keyBits: bits, exponent: exponent,
                               modulus: [0x00] + Array(modulus.dropFirst()))
        let error = #expect(throws: AttestationError.self, "a 2040-bit modulus") { try Self.key(area) }
        #expect(error?.code == .malformedKey)
        #expect(error?.description.contains("CoreCrypto") == false, "\(String(describing: error))")
    }

    @Test func eccPointOffTheCurveIsACodedError() throws {
        var area = try Self.area("quote-ecc-p256")
        guard case let .ecc(symmetric, scheme, curve, kdf, x, y) = area.parameters else { throw VectorShape() }
        area.parameters = .ecc(symmetric: symmetric, scheme: scheme, curve: curve, kdf: kdf, x: x, y: Array(y.dropLast()) + [(y.last ?? 0) ^ 1])
        let error = #expect(throws: AttestationError.self) { try Self.key(area) }
        #expect(error?.code.rawValue == "quote.malformed-key")
    }
}

@Suite("PCR selections within the TPM's PCRs")
struct PCRSelectionRangeTests {
    @Test(arguments: [24, 25, 31])
    func wireSelectionBeyondPCR23IsRefused(_ pcr: Int) throws {
        var bits: [UInt8] = [0, 0, 0, 0]
        bits[pcr / 8] |= 1 << UInt8(pcr % 8)
        let bytes: [UInt8] = [0, 0, 0, 1, 0x00, 0x0B, 4] + bits
        let error = #expect(throws: TPMWireError.self, "PCR \(pcr)") { try PCRSelectionList(wireBytes: bytes) }
        #expect(error?.code == .pcrOutOfRange)
    }

    @Test func fourByteSelectOfLowPCRsIsAccepted() throws {
        let list = try PCRSelectionList(wireBytes: [0, 0, 0, 1, 0x00, 0x0B, 4, 0x01, 0x80, 0x00, 0x00])
        #expect(list.orderedPCRs.map(\.pcr) == [0, 15])
    }

    @Test(arguments: ["sha256:24", "sha256:0-31", "sha256:23-24"])
    func textSelectionBeyondPCR23IsRefused(_ text: String) {
        let error = #expect(throws: TPMWireError.self, "\(text)") { try PCRSelectionList(parsing: text) }
        #expect(error?.code == .pcrOutOfRange)
    }
}
