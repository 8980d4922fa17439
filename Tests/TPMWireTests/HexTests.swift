import Testing
import TPMWire

/// Hexadecimal as the evidence carries PCR values, digests and nonces: every byte round-trips, either case is read,
/// and anything else is refused as a whole (nil), never read in part.
struct HexTests {
    @Test func everyByteRoundTrips() {
        let bytes = (0...255).map { UInt8($0) }
        let text = Hex.encode(bytes)
        #expect(text.count == 512)
        #expect(text.hasPrefix("000102") && text.hasSuffix("fdfeff"))
        #expect(Hex.decode(text) == bytes)
        #expect(Hex.decode(text.uppercased()) == bytes)
    }

    @Test func emptyTextIsNoBytes() {
        #expect(Hex.decode("") == [])
        #expect(Hex.encode([]) == "")
    }

    @Test(arguments: ["0", "abc", "0g", "g0", "00 ", " 00", "0x00", "abcdeg", "ab\u{0}0", "éé", "ab-cd"])
    func anythingElseIsRefused(_ text: String) {
        #expect(Hex.decode(text) == nil, "\(text.debugDescription)")
    }

    @Test func aSubstringsBytesAreItsOwn() {
        let text = "xx0a0Bff"
        #expect(Hex.decode(String(text.dropFirst(2))) == [0x0a, 0x0b, 0xff])
    }
}
