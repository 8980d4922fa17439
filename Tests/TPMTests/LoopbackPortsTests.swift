import Foundation
@testable import Swtpm
import Testing

@Suite("Loopback ports for the servers a process starts")
struct LoopbackPortsTests {
    @Test func pairsAreFreeBelowTheEphemeralRangeAndNeverHandedOutTwice() throws {
        let range = LoopbackPorts.belowEphemeral()
        let ephemeralStart = try #require(Int(try String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).first ?? ""))
        #expect(range.upperBound + 1 < ephemeralStart, "\(range) against an ephemeral range from \(ephemeralStart)")

        var seen: Set<Int> = []
        for _ in 0..<200 {
            let port = try SoftwareTPM.freePortPair()
            #expect(range.contains(port))
            #expect(!seen.contains(port) && !seen.contains(port + 1), "port \(port) handed out twice")
            seen.formUnion([port, port + 1])
        }
    }

    @Test func aPortInUseIsPassedOver() throws {
        // A range of one pair, taken by someone else: nothing is handed out.
        let ports = LoopbackPorts(range: 20000...20000)
        #expect(ports.reservePair(isFree: { _ in false }) == nil)
        // The same pair once free: handed out once, then never again.
        let fresh = LoopbackPorts(range: 20000...20000)
        #expect(fresh.reservePair(isFree: { _ in true }) == 20000)
        #expect(fresh.reservePair(isFree: { _ in true }) == nil)
    }
}
