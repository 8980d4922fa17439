import Synchronization
import RegionTCB

/// Requests that arrive while a batch of them is being written (or read) wait for it, and are written together in
/// the next one: one transaction (or one statement) for many callers instead of one each, as ``IVTGroupCommit`` does
/// for SQLite's verdicts. A batch holds at most one request per ``key`` (a second one waits for the next batch, so
/// it sees what the first wrote; nil: no such limit) and at most ``maxBatch``. A batch is taken from the requests
/// waiting when the one before has ended, and only then written, so each is written (or read) after every request
/// in it was made: a read shared this way is as fresh as each caller's own. Every caller is answered after its
/// batch was written, with its own answer; a batch that fails (the fence refused it, the database failed, no answer
/// within the store's bound) fails every answer in it, and — being one transaction — wrote nothing.
final class PostgresBatch<Request: Sendable, Answer: Sendable>: Sendable {
    /// Writes one batch; an answer per request, in their order.
    typealias Write = @Sendable ([Request]) async throws(RegionError) -> [Result<Answer, RegionError>]

    let maxBatch: Int
    let key: (@Sendable (Request) -> String)?
    private let state = Mutex<(pending: [(request: Request, answer: CheckedContinuation<Answer, any Error>)], writing: Bool)>(([], false))
    private let counts = Mutex<(batches: Int, requests: Int)>((0, 0))

    init(maxBatch: Int, key: (@Sendable (Request) -> String)?) {
        (self.maxBatch, self.key) = (maxBatch, key)
    }

    /// How many batches were written, and how many requests they held.
    var written: (batches: Int, requests: Int) { counts.withLock { $0 } }

    /// `request` written in the next batch (by `write`, the same for every request of this batcher); its answer once
    /// that batch was written.
    func submit(_ request: Request, _ write: @escaping Write) async throws(RegionError) -> Answer {
        do {
            return try await withCheckedThrowingContinuation { answer in
                let start = state.withLock { s in
                    s.pending.append((request, answer))
                    if s.writing { return false }
                    s.writing = true
                    return true
                }
                if start { Task { await self.drain(write) } }
            }
        } catch let e as RegionError {
            throw e
        } catch {
            throw RegionError(.storeFailed, "a batch of store writes failed: \(error)")
        }
    }

    /// Writes batches until none is waiting.
    private func drain(_ write: Write) async {
        while true {
            let batch = state.withLock { s in
                guard !s.pending.isEmpty else {
                    s.writing = false
                    return [(request: Request, answer: CheckedContinuation<Answer, any Error>)]()
                }
                var batch: [(request: Request, answer: CheckedContinuation<Answer, any Error>)] = []
                var keys: Set<String> = []
                var later: [(request: Request, answer: CheckedContinuation<Answer, any Error>)] = []
                for p in s.pending {
                    if batch.count < maxBatch, key.map({ keys.insert($0(p.request)).inserted }) ?? true { batch.append(p) } else { later.append(p) }
                }
                s.pending = later
                return batch
            }
            if batch.isEmpty { return }
            do {
                let answers = try await write(batch.map(\.request))
                counts.withLock { $0 = ($0.batches + 1, $0.requests + batch.count) }
                for (p, answer) in zip(batch, answers) { p.answer.resume(with: answer.mapError { $0 as any Error }) }
            } catch {
                for p in batch { p.answer.resume(throwing: error) }
            }
        }
    }
}
