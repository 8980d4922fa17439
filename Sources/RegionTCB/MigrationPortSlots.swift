/// Incoming-migration ports per target host: a move into a host holds one of its ports from the challenge before
/// the move until the migration is closed (resumed, rolled back or abandoned). A move finding every port of its
/// target taken waits for one, first come first served; it is never a reason to give up a trusted target.
package actor MigrationPortSlots {
    package private(set) var inUse: [String: Int] = [:]
    var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    package init() {}

    /// Takes one of `capacity` ports of `host`: at once when one is free, else after `whenWaiting` (told once)
    /// and a wait for the next release.
    package func acquire(_ host: String, capacity: Int, whenWaiting: @Sendable () async -> Void) async {
        if take(host, capacity: capacity) { return }
        await whenWaiting()
        // A port may have come back while `whenWaiting` ran (nobody waited for it then).
        if take(host, capacity: capacity) { return }
        // The port is handed over by `release` (the count stays as it is).
        await withCheckedContinuation { waiting[host, default: []].append($0) }
    }

    func take(_ host: String, capacity: Int) -> Bool {
        guard inUse[host, default: 0] < max(capacity, 1) else { return false }
        inUse[host, default: 0] += 1
        return true
    }

    /// Gives a port of `host` back: to the first move waiting for one, or to the pool.
    package func release(_ host: String) {
        if var queue = waiting[host], !queue.isEmpty {
            let next = queue.removeFirst()
            waiting[host] = queue
            next.resume()
        } else {
            inUse[host] = max(0, inUse[host, default: 0] - 1)
        }
    }
}
