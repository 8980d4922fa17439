import ArgumentParser
import SmigAttestCLI
import Testing

/// `bench codec`'s arguments: the defaults, and a bad timing refused before anything runs.
@Suite("bench codec arguments")
struct BenchCodecCommandTests {
    @Test func defaultsAndOptionsParse() throws {
        let plain = try BenchCodec.parse([])
        #expect(plain.timing.seconds == 1 && plain.timing.rounds == 3 && !plain.output.json)
        let given = try BenchCodec.parse(["--seconds", "0.5", "--rounds", "2", "--json"])
        #expect(given.timing.seconds == 0.5 && given.timing.rounds == 2 && given.output.json)
    }

    @Test func aBadTimingIsRefused() {
        let error = #expect(throws: (any Error).self) { try BenchCodec.parse(["--seconds", "0"]) }
        #expect(error.map(BenchCodec.message(for:)) == "--seconds must be in (0, 60]")
    }
}
