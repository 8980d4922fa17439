/// How the RC-TCB's migration orders reach a host's agent: over mutual TLS with the RC-TCB's certificate
/// (``RegionClient``, the product's only way), or handed to an agent's order book in the same process (the
/// benchmark, which measures the order path without the network). `base` is the agent's base URL
/// (`https://ADDRESS:PORT`). A transport failure is a ``RegionClient/Failure`` whose code starts with `transport.`:
/// the order may be sent again by its id.
package protocol OrderTransport: Sendable {
    /// `POST /v1/orders`: the agent takes `order` (or answers from its record of the same id).
    func post(_ order: MigrationOrder, to base: String) async throws -> MigrationOrderStatus
    /// `GET /v1/orders/ID`: what the agent recorded for order `id`.
    func status(of id: String, at base: String) async throws -> MigrationOrderStatus
    /// `GET /v1/vms`: the agent's report of its host's VMs.
    func report(at base: String) async throws -> HostVMReport
}

extension RegionClient: OrderTransport {
    package func post(_ order: MigrationOrder, to base: String) async throws -> MigrationOrderStatus {
        try await call(AgentRoutes.orders, at: base, order)
    }

    package func status(of id: String, at base: String) async throws -> MigrationOrderStatus {
        try await call(AgentRoutes.order, at: base, parameters: ["id": id])
    }

    package func report(at base: String) async throws -> HostVMReport {
        try await call(AgentRoutes.vms, at: base)
    }
}
