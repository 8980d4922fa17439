/// Serialises the RC-TCB's work on one host: a challenge, its judgement and the IVT write it leads to run to the end
/// before the next one about the same host starts. Concurrent claims about a host (ring reports, notices, silence
/// claims, the scheduler, an evacuation) can then not race each other's quotes: every quote is judged against the
/// clock of the one recorded before it. Used on the actor that owns it; hosts do not wait for each other.
struct HostQueue {
    var busy: [String: [CheckedContinuation<Void, Never>]] = [:]

    /// True when the caller holds the host now; otherwise it must wait on ``enqueue(_:_:)``.
    mutating func tryAcquire(_ host: String) -> Bool {
        if busy[host] != nil { return false }
        busy[host] = []
        return true
    }

    mutating func enqueue(_ host: String, _ c: CheckedContinuation<Void, Never>) {
        busy[host, default: []].append(c)
    }

    /// Hands the host to the next waiter, if any (it holds it when it resumes).
    mutating func release(_ host: String) {
        guard var waiting = busy[host] else { return }
        if waiting.isEmpty {
            busy[host] = nil
        } else {
            let next = waiting.removeFirst()
            busy[host] = waiting
            next.resume()
        }
    }

    var isBusy: Bool { !busy.isEmpty }
}
