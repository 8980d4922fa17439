import RegionProtocol
import ServiceLifecycle

/// The agent's background loops as one service.
struct AgentLoops: Service {
    let runtime: AgentRuntime

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await runtime.measureLoop() }
            group.addTask { await runtime.ringLoop() }
            group.addTask { await runtime.peerLoop() }
            group.addTask { await runtime.renewalLoop() }
            await group.waitForAll()
        }
        await runtime.client.shutdown()
        await runtime.neighbours.shutdown()
    }
}
