import Synchronization
import RegionTCB

/// Group commit of the leader's verdicts on PostgreSQL, as ``IVTGroupCommit`` does on SQLite: the transitions that
/// arrive while a transaction of verdicts is being written wait for it, and are written together in the next one,
/// in the same four round trips one verdict takes (``PostgresRegionStore/transitions(_:_:fencedBy:)``: BEGIN, the
/// rows read `FOR UPDATE` with the fence, one write statement, COMMIT) instead of four each.
///
/// Each verdict is applied as on its own: ``HostTransition`` on its row as read, locked, in the transaction; its row,
/// its audit events (numbered in the order of the group, each group's under the region's lock), its evidence kept
/// with the retention's bound. A group holds at most one verdict of a host (a second waits for the next group, and
/// is applied to the row the first wrote), so each host's evidence is pruned knowing its one new row. The group's
/// rows are locked in the order of their ids. A row that does not decode fails its own verdict alone; every other
/// answer comes only after the transaction holding its verdict committed; a transaction that does not commit (the
/// fence refused it, the database failed, no answer within the store's bound) fails every answer in it, and nothing
/// of it is written.
final class PostgresGroupCommit: Sendable {
    /// At most this many verdicts in one transaction (a bound on one statement's size and on how long it holds the
    /// region's audit lock).
    static let maxGroup = 64

    struct Pending: Sendable {
        var request: TransitionRequest
        var answer: CheckedContinuation<IVTStore.Applied?, any Error>
    }

    private let state = Mutex<(pending: [Pending], writing: Bool)>(([], false))
    private let committed = Mutex<(transactions: Int, verdicts: Int)>((0, 0))

    /// How many transactions of verdicts have committed, and how many verdicts they held.
    var written: (transactions: Int, verdicts: Int) { committed.withLock { $0 } }

    /// Applies `request` in the next group's transaction and answers once that transaction has committed.
    func submit(_ request: TransitionRequest, to store: PostgresRegionStore) async throws(RegionError) -> IVTStore.Applied? {
        do {
            return try await withCheckedThrowingContinuation { answer in
                let start = state.withLock { s in
                    s.pending.append(Pending(request: request, answer: answer))
                    if s.writing { return false }
                    s.writing = true
                    return true
                }
                if start { Task { await self.drain(store) } }
            }
        } catch {
            throw store.coded(error)
        }
    }

    /// Writes groups until none is waiting.
    private func drain(_ store: PostgresRegionStore) async {
        while true {
            let group: [Pending] = state.withLock { s in
                guard !s.pending.isEmpty else {
                    s.writing = false
                    return []
                }
                var group: [Pending] = []
                var hosts: Set<String> = []
                var later: [Pending] = []
                for p in s.pending {
                    if group.count < Self.maxGroup, hosts.insert(p.request.host).inserted { group.append(p) } else { later.append(p) }
                }
                s.pending = later
                return group
            }
            if group.isEmpty { return }
            await write(group, store)
        }
    }

    /// One transaction for `group`; the answers after it committed (or all failed when it did not).
    private func write(_ group: [Pending], _ store: PostgresRegionStore) async {
        do {
            let answers = try await store.transaction(checkingFence: false) { c in
                try await store.transitions(c, group.map(\.request), fencedBy: store.fence)
            }
            committed.withLock { $0 = ($0.transactions + 1, $0.verdicts + group.count) }
            for (p, answer) in zip(group, answers) { p.answer.resume(with: answer.mapError { $0 as any Error }) }
        } catch {
            for p in group { p.answer.resume(throwing: error) }
        }
    }
}
