import Foundation

/// The RC-TCB's CPU seconds when the measured run started and ended (the warm-up pass before it and the floor
/// run after it are not counted).
final class CPUMark: @unchecked Sendable {
    // @unchecked Sendable: `startCPU` and `endCPU` are guarded by `lock`.
    let lock = NSLock()
    var startCPU: Double?
    var endCPU: Double?

    func start(_ v: Double) { lock.withLock { startCPU = v } }
    func end(_ v: Double) { lock.withLock { endCPU = v } }
    /// CPU seconds when the measured run ended (`fallback` when no end was marked).
    func ended(or fallback: Double) -> Double { lock.withLock { endCPU } ?? fallback }
    /// CPU seconds between start and end (`fallback`: the start when none was marked; 0 when no end was).
    func used(or fallback: Double) -> Double {
        lock.withLock { endCPU.map { $0 - (startCPU ?? fallback) } ?? 0 }
    }
}
