import Agent
import RegionProtocol
import Synchronization
import Testing

/// A completion that can no longer reach its challenge starts the enrolment again; any other refusal ends it.
@Suite("Enrolment rounds")
struct EnrolmentRoundsTests {
    static func refusal(_ code: String) -> RegionClient.Failure { .init(code: code, message: "test", status: 400) }

    @Test(arguments: ["enrol.challenge-expired", "enrol.unknown-challenge", "rctcb.not-leader", "transport.unreachable", "request.rate-limited"])
    func aCompletionThatLostItsChallengeStartsANewRound(_ code: String) async throws {
        let rounds = Mutex<[Int]>([]), restarts = Mutex<[String]>([])
        let answer = try await EnrolmentRounds.run(restarted: { n, f in restarts.withLock { $0.append("\(n):\(f.code)") } }) { n in
            rounds.withLock { $0.append(n) }
            return n == 1 ? .refused(Self.refusal(code)) : .completed("certificate of round \(n)")
        }
        #expect(answer == "certificate of round 2")
        #expect(rounds.withLock { $0 } == [1, 2])
        #expect(restarts.withLock { $0 } == ["1:\(code)"])
    }

    @Test(arguments: ["enrol.activation-failed", "enrol.already-enrolled", "enrol.revoked", "transport.bad-answer", "tls.server-not-trusted"])
    func anyOtherRefusalOfTheCompletionEndsTheEnrolment(_ code: String) async throws {
        let rounds = Mutex(0)
        let thrown = await #expect(throws: RegionClient.Failure.self) {
            _ = try await EnrolmentRounds.run { _ -> EnrolmentRounds.Completion<String> in
                rounds.withLock { $0 += 1 }
                return .refused(Self.refusal(code))
            }
        }
        #expect(thrown?.code == code)
        #expect(rounds.withLock { $0 } == 1)
    }

    @Test func afterTheLastRoundItsRefusalIsTheAnswer() async throws {
        let rounds = Mutex(0)
        let thrown = await #expect(throws: RegionClient.Failure.self) {
            _ = try await EnrolmentRounds.run(rounds: 3) { n -> EnrolmentRounds.Completion<String> in
                rounds.withLock { $0 += 1 }
                return .refused(Self.refusal(n == 3 ? "enrol.unknown-challenge" : "enrol.challenge-expired"))
            }
        }
        #expect(thrown?.code == "enrol.unknown-challenge")
        #expect(rounds.withLock { $0 } == 3)
    }

    @Test func whatTheBeginThrowsEndsTheEnrolment() async throws {
        let rounds = Mutex(0)
        // The begin's own retries (the budget, the other RC-TCBs) are inside the round: what comes out of it is final.
        let thrown = await #expect(throws: RegionClient.Failure.self) {
            _ = try await EnrolmentRounds.run { _ -> EnrolmentRounds.Completion<String> in
                rounds.withLock { $0 += 1 }
                throw Self.refusal("transport.unreachable")
            }
        }
        #expect(thrown?.code == "transport.unreachable")
        #expect(rounds.withLock { $0 } == 1)
    }
}
