import Foundation
import Hummingbird
import Logging
import NIOCore
import RegionListener
import RegionProtocol

/// The agent's order routes, on its mutual-TLS listener beside the quote endpoint, for the RC-TCB's certificate
/// (role `rctcb`) alone:
///
/// - `POST /v1/orders` takes a ``MigrationOrder`` and answers what the agent recorded for it (``OrderBook``);
/// - `GET /v1/orders/ID` answers that record again (a migration's progress, how it ended);
/// - `GET /v1/vms` reports the host's VMs as its VM manager lists them (``HostVMReport``).
///
/// Any other certificate of the region — a ring peer's agent certificate, an operator's — is refused with
/// `order.forbidden` before anything is read: a host trusted now may turn hostile, and moving VMs is the RC-TCB's.
struct OrderEndpoint: Sendable {
    let book: OrderBook
    let manager: (any HostVMManager)?
    let logger: Logger
    let refusals = RefusalLog()

    func add(to router: Router<RegionRequestContext>) {
        router.post(RouterPath(AgentRoutes.orders.path)) { request, context in try await take(request, context) }
        router.get(RouterPath(AgentRoutes.order.path)) { _, context in
            if let refusal = await authorise(context) { return refusal }
            let id = context.parameters.get("id") ?? ""
            guard let record = await book.status(id) else {
                return Self.answer(.notFound, MigrationOrderError(.unknown, "no order \(id.prefix(128)) was taken here").body)
            }
            return Self.answer(.ok, record)
        }
        router.get(RouterPath(AgentRoutes.vms.path)) { _, context in
            if let refusal = await authorise(context) { return refusal }
            guard let manager else {
                return Self.answer(.serviceUnavailable, MigrationOrderError(.noVMManager, "this agent has no VM manager").body)
            }
            do {
                return Self.answer(.ok, HostVMReport(host: book.hostId, vmManager: manager.kind, vms: try await manager.vms(), at: Date(),
                                                          capacity: try? await manager.capacity()))
            } catch {
                return Self.answer(.badGateway, MigrationOrderError(.failed, "the VM manager did not list the VMs: \(error)").body)
            }
        }
    }

    /// The refusal for any client but the RC-TCB; nil for the RC-TCB.
    func authorise(_ context: RegionRequestContext) async -> Response? {
        let peer = await context.peerIdentity()
        if peer?.role == .rctcb { return nil }
        let who = peer.map { "\($0.role.rawValue) \($0.name)" } ?? "a certificate naming no region identity"
        refusals.refused(peer?.name ?? "-", MigrationOrderError.Code.forbidden.rawValue, logger: logger, what: "migration order refused")
        return Self.answer(.forbidden, MigrationOrderError(.forbidden, "only the RC-TCB gives migration orders; this is \(who)").body)
    }

    func take(_ request: Request, _ context: RegionRequestContext) async throws -> Response {
        if let refusal = await authorise(context) { return refusal }
        let buffer = try await request.body.collect(upTo: 64 * 1024)
        do {
            let order = try MigrationOrder.decode(Data(buffer.readableBytesView))
            let record = try await book.take(order)
            logger.notice("migration order", metadata: ["attest.order": "\(order.orderId)", "attest.vm": "\(order.vm)",
                                                         "attest.step": "\(order.step.rawValue)", "attest.state": "\(record.state.rawValue)"])
            return Self.answer(.ok, record)
        } catch {
            let status: HTTPResponse.Status = switch error.code {
            case .malformed: .badRequest
            case .wrongHost: .misdirectedRequest
            case .conflict: .conflict
            case .noVMManager: .serviceUnavailable
            default: .internalServerError
            }
            logger.warning("migration order refused", metadata: ["attest.code": "\(error.code)", "attest.reason": "\(error.message)"])
            return Self.answer(status, error.body)
        }
    }

    static func answer(_ status: HTTPResponse.Status, _ body: some Encodable) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: RegionJSON.encode(body))))
    }
}
