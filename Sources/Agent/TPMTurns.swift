import Synchronization

/// Whose turn it is at the TPM, which answers one command stream at a time. Two lanes: the host's own work and the
/// RC-TCB's challenges go first; ring neighbours' quote requests wait behind them. However many peers are queued,
/// the RC-TCB's challenge waits for at most the one TPM command in progress.
package final class TPMTurns: Sendable {
    package enum Lane: Sendable {
        /// The RC-TCB's challenges, measuring and extending, enrolment.
        case first
        /// Quote requests of ring neighbours (and any other region certificate).
        case peer
    }

    struct State {
        var busy = false
        var first: [CheckedContinuation<Void, Never>] = []
        var peer: [CheckedContinuation<Void, Never>] = []
    }

    let state = Mutex(State())

    package init() {}

    /// Callers waiting for a turn, by lane.
    package var waiting: (first: Int, peer: Int) { state.withLock { ($0.first.count, $0.peer.count) } }

    /// Runs `body` when it is `lane`'s turn, alone.
    package func withTurn<T: Sendable>(_ lane: Lane, _ body: () async throws -> T) async rethrows -> T {
        await acquire(lane)
        defer { release() }
        return try await body()
    }

    func acquire(_ lane: Lane) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = state.withLock { s in
                if !s.busy {
                    s.busy = true
                    return true
                }
                switch lane {
                case .first: s.first.append(c)
                case .peer: s.peer.append(c)
                }
                return false
            }
            if now { c.resume() }
        }
    }

    func release() {
        let next: CheckedContinuation<Void, Never>? = state.withLock { s in
            if !s.first.isEmpty { return s.first.removeFirst() }
            if !s.peer.isEmpty { return s.peer.removeFirst() }
            s.busy = false
            return nil
        }
        next?.resume()
    }
}
