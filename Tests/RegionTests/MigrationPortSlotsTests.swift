import RegionTCB
import SmigTestSupport
import Foundation
import Testing

/// A move into a host whose incoming migration ports are all taken waits for one, first come first served, and is
/// told once; nothing is refused.
/// Names appended from any task.
final class Names: @unchecked Sendable {
    // @unchecked Sendable: every access holds `lock`.
    let lock = NSLock()
    var names: [String] = []
    func add(_ name: String) { lock.withLock { names.append(name) } }
    var all: [String] { lock.withLock { names } }
}

@Suite("Incoming migration ports")
struct MigrationPortSlotsTests {
    @Test func aMoveBeyondTheTargetsPortsWaitsForOneInOrder() async throws {
        let slots = MigrationPortSlots()
        let told = Names()
        await slots.acquire("host-2", capacity: 2) { told.add("a") }
        await slots.acquire("host-2", capacity: 2) { told.add("b") }
        #expect(told.all.isEmpty)
        #expect(await slots.inUse["host-2"] == 2)

        let done = Names()
        let c = Task { await slots.acquire("host-2", capacity: 2) { told.add("c") }; done.add("c") }
        try await waitUntilAsync("c waits") { told.all == ["c"] }
        let d = Task { await slots.acquire("host-2", capacity: 2) { told.add("d") }; done.add("d") }
        try await waitUntilAsync("d waits") { told.all == ["c", "d"] }
        // Another host's ports are its own.
        await slots.acquire("host-3", capacity: 2) { told.add("other") }
        #expect(done.all.isEmpty)

        await slots.release("host-2")
        await c.value
        #expect(done.all == ["c"])
        #expect(await slots.inUse["host-2"] == 2)
        await slots.release("host-2")
        await d.value
        #expect(done.all == ["c", "d"])
        for _ in 0..<2 { await slots.release("host-2") }
        #expect(await slots.inUse["host-2"] == 0)
        #expect(told.all == ["c", "d"])
    }
}
