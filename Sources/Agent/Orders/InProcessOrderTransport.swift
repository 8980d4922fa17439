import Foundation
package import RegionProtocol

/// Agents' order books in this process as an ``OrderTransport``: each base URL names one host's ``OrderBook`` and its
/// VM manager, and an order goes straight to the book (journaled, carried out with the VM manager) as the agent's
/// `POST /v1/orders` would hand it on. For the benchmark, which measures the order path without the network; the
/// product sends orders over mutual TLS only.
package struct InProcessOrderTransport: OrderTransport {
    let agents: [String: (book: OrderBook, manager: any HostVMManager)]

    package init(agents: [String: (book: OrderBook, manager: any HostVMManager)]) {
        self.agents = agents
    }

    func agent(_ base: String) throws -> (book: OrderBook, manager: any HostVMManager) {
        guard let agent = agents[base] else { throw MigrationOrderError(.wrongHost, "no agent at \(base) in this process") }
        return agent
    }

    package func post(_ order: MigrationOrder, to base: String) async throws -> MigrationOrderStatus {
        try await agent(base).book.take(order)
    }

    package func status(of id: String, at base: String) async throws -> MigrationOrderStatus {
        let book = try agent(base).book
        guard let record = await book.status(id) else { throw MigrationOrderError(.unknown, "no order \(id) was taken here") }
        return record
    }

    package func report(at base: String) async throws -> HostVMReport {
        let (book, manager) = try agent(base)
        return HostVMReport(host: book.hostId, vmManager: manager.kind, vms: try await manager.vms(), at: Date(),
                            capacity: try? await manager.capacity())
    }
}
