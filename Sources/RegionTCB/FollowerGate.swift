import Hummingbird
import NIOCore
import RegionListener
import RegionProtocol

/// What an RC-TCB that follows its region's leader serves: its health (with the leader's name) and its metrics,
/// nothing else. Every other route — the agents' (enrolment, ring duty, reports, notices, peers, renewal) and the
/// operator's — answers 503 `rctcb.not-leader` naming the leader, and agents and the CLI, given the region's
/// RC-TCBs, ask the next one (``RCTCBEndpoints``). The leader alone issues nonces, judges, and writes.
struct FollowerGate: RouterMiddleware {
    typealias Context = RegionRequestContext
    let leadership: RegionLeadership
    static let open: Set<String> = ["/v1/health", "/metrics"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !leadership.mayAct, !Self.open.contains(request.uri.path) else { return try await next(request, context) }
        let leader = await leadership.leader()
        let body = RegionJSON.encode(RegionErrorBody(
            code: RCTCBEndpoints.notLeader,
            message: "this RC-TCB follows the region's leader" + (leader.map { " (\($0))" } ?? " (none leads at this moment)") + "; ask the leader"))
        return Response(status: .serviceUnavailable, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// `GET /v1/health` of an RC-TCB of a region with several: whether it leads, and who does.
struct LeadershipHealth: Codable, Sendable {
    var status = "ok"
    var role: String
    var leader: String?
    var epoch: Int64?
}
