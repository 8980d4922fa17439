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

    /// Odd lengths, and even-length text with a byte that is not a hex digit at the start, inside or at the end.
    @Test(arguments: ["0", "abc", "0g", "g0", "00 1", " 100", "0x00", "abcdeg", "ab\u{0}0", "éé", "ab-c"])
    func anythingElseIsRefused(_ text: String) {
        #expect(Hex.decode(text) == nil, "\(text.debugDescription)")
    }

    @Test func mixedCaseIsRead() {
        #expect(Hex.decode("0a0Bff") == [0x0a, 0x0b, 0xff])
        #expect(Hex.decode("DEADbeef") == [0xde, 0xad, 0xbe, 0xef])
    }
}
