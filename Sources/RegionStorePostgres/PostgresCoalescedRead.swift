import Synchronization
import RegionTCB

/// One read shared by all who ask for the same value at about the same time: the answers of a read that began after
/// each of them asked. A caller that asks while a read is under way does not take that read's answer (it may have
/// been read before what the caller just saw committed); it waits for the next read, which starts when the one under
/// way has ended and serves everyone who asked meanwhile. So every answer is as fresh as a read of the caller's own,
/// and a burst of callers costs a round trip or two instead of one each.
///
/// The RC-TCB asks for the audit trail's last number before each agent request it serves (to see a revocation or an
/// enrolment another process wrote), twice for a report: under load many ask at once.
final class PostgresCoalescedRead<Value: Sendable>: Sendable {
    private let state = Mutex<(waiting: [CheckedContinuation<Value, any Error>], reading: Bool)>(([], false))
    private let counts = Mutex<(asked: Int, read: Int)>((0, 0))

    /// How many callers asked, and how many reads answered them.
    var served: (asked: Int, read: Int) { counts.withLock { $0 } }

    /// The value as `read` gives it, from a read that begins after this call.
    func value(_ read: @escaping @Sendable () async throws(RegionError) -> Value) async throws(RegionError) -> Value {
        do {
            return try await withCheckedThrowingContinuation { answer in
                let start = state.withLock { s in
                    s.waiting.append(answer)
                    if s.reading { return false }
                    s.reading = true
                    return true
                }
                if start { Task { await self.drain(read) } }
            }
        } catch let e as RegionError {
            throw e
        } catch {
            throw RegionError(.storeFailed, "a shared read failed: \(error)")
        }
    }

    /// Reads for everyone waiting, until nobody is.
    private func drain(_ read: @escaping @Sendable () async throws(RegionError) -> Value) async {
        while true {
            let waiting: [CheckedContinuation<Value, any Error>] = state.withLock { s in
                if s.waiting.isEmpty { s.reading = false }
                defer { s.waiting = [] }
                return s.waiting
            }
            if waiting.isEmpty { return }
            counts.withLock { $0 = ($0.asked + waiting.count, $0.read + 1) }
            let result: Result<Value, RegionError>
            do { result = .success(try await read()) } catch { result = .failure(error) }
            for w in waiting { w.resume(with: result.mapError { $0 as any Error }) }
        }
    }
}
