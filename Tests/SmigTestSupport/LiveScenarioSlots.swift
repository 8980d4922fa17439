/// Bounds how many heavy live scenarios run at once in one test process: a whole region (a swtpm, an agent and a
/// QEMU process per host, an RC-TCB) or the demo. Swift Testing starts every suite together; on two cores five
/// such regions at once starve each other's agents until quotes miss their deadlines, which is not what these
/// tests measure. A test takes a slot before it starts its region and gives it back when it ends (`defer`).
public actor LiveScenarioSlots {
    public static let shared = LiveScenarioSlots(count: 2)

    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(count: Int) { free = count }

    /// Waits (without holding a thread) until a slot is free, then takes it.
    public func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    /// Gives the slot back: to the longest waiter, else to the pool.
    public func release() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }

    /// `release()` from a synchronous context such as `defer`.
    public nonisolated func releaseLater() {
        Task { await release() }
    }
}
