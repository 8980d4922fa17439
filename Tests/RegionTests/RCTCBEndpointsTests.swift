import RegionProtocol
import Testing

/// The region's RC-TCBs as agents and operators are given them: one URL or several, each checked; a request goes
/// to the one that answered last and on to the next while one does not answer or follows another.
@Suite("RC-TCB endpoints")
struct RCTCBEndpointsTests {
    @Test func oneOrSeveralURLsParse() throws {
        #expect(try RCTCBEndpoints("https://10.0.0.1:8443").urls == ["https://10.0.0.1:8443"])
        #expect(try RCTCBEndpoints("https://a:8443/, https://b:8443").urls == ["https://a:8443", "https://b:8443"])
    }

    @Test(arguments: ["", "https://a:8443,", "https://a:8443,http://b:8443", "https://a:8443,b:8443", "https://a:8443/v1"])
    func aBadURLAnywhereIsRefused(_ text: String) {
        let error = #expect(throws: RegionClient.Failure.self) { _ = try RCTCBEndpoints(text) }
        #expect(error?.code == "transport.bad-url")
    }

    static func failure(_ code: String) -> RegionClient.Failure { RegionClient.Failure(code: code, message: code, status: nil) }

    @Test func unansweredAndFollowersAreSkippedAndTheAnswerSticks() async throws {
        let e = try RCTCBEndpoints("https://a:1,https://b:2,https://c:3")
        var asked: [String] = []
        let answer = try await e.call { base -> String in
            asked.append(base)
            if base == "https://a:1" { throw Self.failure("transport.unreachable") }
            if base == "https://b:2" { throw Self.failure(RCTCBEndpoints.notLeader) }
            return base
        }
        #expect(answer == "https://c:3" && asked == ["https://a:1", "https://b:2", "https://c:3"])
        // The next request starts with the one that answered, then wraps around.
        asked = []
        _ = try await e.call { base -> String in
            asked.append(base)
            if base == "https://c:3" { throw Self.failure("transport.unreachable") }
            return base
        }
        #expect(asked == ["https://c:3", "https://a:1"] && e.base == "https://a:1")
    }

    @Test func anAnswerOfTheLeaderIsFinal() async throws {
        let e = try RCTCBEndpoints("https://a:1,https://b:2")
        var asked: [String] = []
        let error = await #expect(throws: RegionClient.Failure.self) {
            _ = try await e.call { base -> String in
                asked.append(base)
                throw Self.failure("report.not-assigned")
            }
        }
        #expect(error?.code == "report.not-assigned" && asked == ["https://a:1"] && e.base == "https://a:1")
        // Every one silent: the last failure, after each was asked once.
        asked = []
        let silent = await #expect(throws: RegionClient.Failure.self) {
            _ = try await e.call { base -> String in
                asked.append(base)
                throw Self.failure("transport.unreachable")
            }
        }
        #expect(silent?.code == "transport.unreachable" && asked == ["https://a:1", "https://b:2"])
    }
}
