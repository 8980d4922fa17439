import Testing
import TPMWire

@Suite("TPMWire structures")
struct WireStructureTests {
    static let quoteInfo = QuoteInfo(
        pcrSelect: PCRSelectionList([PCRSelection(hash: .sha256, pcrs: [0, 1, 2, 15])]),
        pcrDigest: [UInt8](repeating: 0xAB, count: 32))

    static let attest = Attest(
        qualifiedSigner: [0x00, 0x0B] + [UInt8](repeating: 1, count: 32), extraData: [1, 2, 3, 4],
        clockInfo: ClockInfo(clock: 123_456, resetCount: 2, restartCount: 1, safe: true),
        firmwareVersion: 0x2010_0000_0000_0001, attested: .quote(quoteInfo))

    @Test func attestRoundTrips() throws {
        let bytes = Self.attest.wireBytes
        let parsed = try Attest(wireBytes: bytes)
        #expect(parsed == Self.attest)
        #expect(parsed.wireBytes == bytes)
        #expect(Array(bytes.prefix(6)) == [0xFF, 0x54, 0x43, 0x47, 0x80, 0x18])
    }

    @Test func attestKeepsTheBytesItWasReadFrom() throws {
        let bytes = Self.attest.wireBytes
        #expect(Self.attest.signedBytes == bytes, "built field by field: the encoding of the fields")
        var parsed = try Attest(wireBytes: bytes)
        #expect(parsed.signedBytes == bytes)
        parsed.extraData = [9, 9, 9, 9]
        #expect(parsed.signedBytes == bytes, "what was signed does not follow a changed field")
        #expect(parsed.wireBytes != bytes)
        // Read from the middle of a larger buffer (as inside a TPM2B_ATTEST): exactly its own bytes.
        var reader = WireReader([0xEE, 0xEE] + bytes + [0xDD])
        _ = try reader.readBytes(2)
        let inner = try Attest(unmarshalling: &reader)
        #expect(inner.signedBytes == bytes)
    }

    @Test func everyTruncationOfAnAttestThrowsTruncated() {
        let bytes = Self.attest.wireBytes
        for n in 0..<bytes.count {
            let error = #expect(throws: TPMWireError.self) { try Attest(wireBytes: bytes.prefix(n)) }
            #expect(error?.code == .truncated, "prefix \(n): \(String(describing: error))")
        }
    }

    @Test func trailingBytesAreRejected() {
        let error = #expect(throws: TPMWireError.self) { try Attest(wireBytes: Self.attest.wireBytes + [0]) }
        #expect(error?.code == .trailingBytes)
    }

    @Test(arguments: [
        // TPML_PCR_SELECTION.count 17 > HASH_COUNT
        ([0, 0, 0, 17], TPMWireError.Code.countTooLarge),
        // sizeofSelect 5 > PCR_SELECT_MAX
        ([0, 0, 0, 1, 0x00, 0x0B, 5, 0, 0, 0, 0, 0], .sizeTooLarge),
        // bank that is not a hash
        ([0, 0, 0, 1, 0x00, 0x01, 3, 0, 0, 0], .unsupportedAlgorithm),
        ([0, 0, 0, 1, 0x00, 0x0B, 3, 0], .truncated),
    ] as [([UInt8], TPMWireError.Code)])
    func malformedPCRSelections(bytes: [UInt8], code: TPMWireError.Code) {
        let error = #expect(throws: TPMWireError.self) { try PCRSelectionList(wireBytes: bytes) }
        #expect(error?.code == code)
    }

    @Test func digestListLimits() {
        var w = WireWriter()
        w.write(UInt32(9))
        let count = #expect(throws: TPMWireError.self) { try DigestList(wireBytes: w.bytes) }
        #expect(count?.code == .countTooLarge, "count 9")
        var w2 = WireWriter()
        w2.write(UInt32(1))
        w2.write(UInt16(65))
        w2.write(raw: [UInt8](repeating: 0, count: 65))
        let size = #expect(throws: TPMWireError.self) { try DigestList(wireBytes: w2.bytes) }
        #expect(size?.code == .sizeTooLarge, "65-byte digest")
    }

    @Test func oversizedExtraDataIsRejected() {
        var w = WireWriter()
        w.write(Attest.generatedValue)
        w.write(Attest.typeQuote)
        w.write(sized: [UInt8]())
        w.write(UInt16(67))
        w.write(raw: [UInt8](repeating: 0, count: 67))
        let error = #expect(throws: TPMWireError.self) { try Attest(wireBytes: w.bytes) }
        #expect(error?.code == .sizeTooLarge)
        #expect(error?.offset == 8)
    }

    @Test func clockSafeMustBeYesOrNo() {
        var bytes = Self.attest.wireBytes
        // magic 4 + type 2 + name (2+34) + data (2+4) + clock 8 + reset 4 + restart 4 = offset of safe
        let safeOffset = 4 + 2 + 36 + 6 + 16
        #expect(bytes[safeOffset] == 1)
        bytes[safeOffset] = 2
        let error = #expect(throws: TPMWireError.self) { try Attest(wireBytes: bytes) }
        #expect(error?.code == .badValue, "safe=2")
    }

    @Test func signaturesRoundTripAndUnknownSchemesAreRejected() throws {
        let ecdsa = Signature.ecdsa(hash: .sha256, r: [UInt8](repeating: 7, count: 32), s: [UInt8](repeating: 9, count: 31))
        #expect(try Signature(wireBytes: ecdsa.wireBytes) == ecdsa)
        let rsa = Signature.rsassa(hash: .sha256, signature: [UInt8](repeating: 3, count: 256))
        #expect(try Signature(wireBytes: rsa.wireBytes) == rsa)
        let pss = Signature.rsapss(hash: .sha384, signature: [UInt8](repeating: 3, count: 256))
        #expect(try Signature(wireBytes: pss.wireBytes) == pss)
        let hmac = #expect(throws: TPMWireError.self) { try Signature(wireBytes: [0x00, 0x05, 0x00, 0x0B]) }
        #expect(hmac?.code == .unsupportedAlgorithm, "HMAC")
        let hashRSA = #expect(throws: TPMWireError.self) { try Signature(wireBytes: [0x00, 0x18, 0x00, 0x01]) }
        #expect(hashRSA?.code == .unsupportedAlgorithm, "hash RSA")
        var big = WireWriter()
        big.write(TPMAlgorithm.rsassa.rawValue)
        big.write(TPMAlgorithm.sha256.rawValue)
        big.write(UInt16(513))
        let oversized = #expect(throws: TPMWireError.self) { try Signature(wireBytes: big.bytes) }
        #expect(oversized?.code == .sizeTooLarge, "513-byte RSA signature")
    }

    @Test(arguments: EKType.allCases)
    func ekTemplatesRoundTrip(type: EKType) throws {
        let template = Public(type.template)
        let parsed = try Public(wireBytes: template.wireBytes)
        #expect(parsed.publicArea == type.template)
        #expect(try parsed.name.count == 2 + (type == .eccP384 ? 48 : 32))
    }

    /// The RSA EK template's encoding starts as tpm2_createek's output does (the TPM fills in the modulus).
    @Test func rsaEKTemplateMatchesTheCredentialProfile() {
        let bytes = Public(EKType.rsa2048.template).wireBytes
        let expectedPrefix: [UInt8] = [
            0x01, 0x3A, 0x00, 0x01, 0x00, 0x0B, 0x00, 0x03, 0x00, 0xB2, 0x00, 0x20, 0x83, 0x71, 0x97, 0x67,
            0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E,
            0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA, 0x00, 0x06, 0x00, 0x80,
            0x00, 0x43, 0x00, 0x10, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
        ]
        #expect(Array(bytes.prefix(expectedPrefix.count)) == expectedPrefix)
    }

    @Test func publicSizeMustMatchItsArea() throws {
        var bytes = Public(AKType.eccP256.template).wireBytes
        bytes[1] &+= 1
        bytes.append(0)
        let trailing = #expect(throws: TPMWireError.self) { try Public(wireBytes: bytes) }
        #expect(trailing?.code == .trailingBytes)
        let rsaBits = PublicArea(nameAlg: .sha256, objectAttributes: [.sign], authPolicy: [],
                                 parameters: .rsa(symmetric: .null, scheme: .null, keyBits: 1000, exponent: 0, modulus: []))
        let keyBits = #expect(throws: TPMWireError.self) { try Public(wireBytes: Public(rsaBits).wireBytes) }
        #expect(keyBits?.code == .badValue, "1000-bit RSA")
    }

    @Test func everyTruncationOfAPublicIsRejected() {
        let bytes = Public(AKType.rsa2048.template).wireBytes
        for n in 0..<bytes.count {
            let error = #expect(throws: TPMWireError.self) { try Public(wireBytes: bytes.prefix(n)) }
            #expect(error?.code == .truncated, "prefix \(n): \(String(describing: error))")
        }
    }
}

@Suite("PCR selection notation")
struct PCRSelectionNotationTests {
    @Test func parsesRangesListsAndBanks() throws {
        let sel = try PCRSelectionList(parsing: "sha256:0-7,15+sha1:0")
        #expect(sel.selections.count == 2)
        #expect(sel.selections[0].pcrs == [0, 1, 2, 3, 4, 5, 6, 7, 15])
        #expect(sel.selections[1].hash == .sha1)
        #expect(sel.description == "sha256:0,1,2,3,4,5,6,7,15+sha1:0")
        #expect(try PCRSelectionList(parsing: "sha256:all").orderedPCRs.count == 24)
        let wire = try PCRSelectionList(wireBytes: sel.wireBytes)
        #expect(wire == sel)
    }

    @Test(arguments: [
        ("", TPMWireError.Code.badValue), ("sha256", .badValue), ("md5:0", .badValue), ("sha256:7-1", .badValue),
        ("sha256:32", .pcrOutOfRange), ("sha256:x", .badValue), ("sha256:0+sha256:1", .badValue), ("sha256:0,,1", .badValue),
    ] as [(String, TPMWireError.Code)])
    func rejectsBadNotation(text: String, code: TPMWireError.Code) {
        let error = #expect(throws: TPMWireError.self) { try PCRSelectionList(parsing: text) }
        #expect(error?.code == code, "\(String(describing: error))")
    }
}
