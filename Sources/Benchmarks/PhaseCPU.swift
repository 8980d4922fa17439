import Synchronization

/// A process's CPU seconds within each phase of an end-to-end run (``RegionLoadGenerator/Phase``), added up over
/// the phase's stretches: read at the start and end of each, so the warm-up pass and the other phase's stretches
/// are not counted.
final class PhaseCPU: Sendable {
    private let state = Mutex<[RegionLoadGenerator.Phase: (started: Double?, total: Double)]>([:])

    /// `value`: the process's CPU seconds now (nil when it cannot be read: the stretch is not counted).
    func mark(_ phase: RegionLoadGenerator.Phase, starting: Bool, _ value: Double?) {
        state.withLock { s in
            var entry = s[phase] ?? (nil, 0)
            if starting {
                entry.started = value
            } else {
                if let start = entry.started, let value { entry.total += value - start }
                entry.started = nil
            }
            s[phase] = entry
        }
    }

    /// CPU seconds within `phase`'s stretches (0 when none was counted).
    func total(_ phase: RegionLoadGenerator.Phase) -> Double { state.withLock { $0[phase]?.total ?? 0 } }
}
