public import TPMWire

/// What a verifier last saw of one TPM's clock: the counters that must never go back without a reboot
/// being noticed.
public struct ClockObservation: Hashable, Sendable, Codable {
    public var clock: UInt64
    public var resetCount: UInt32
    public var restartCount: UInt32

    public init(clock: UInt64, resetCount: UInt32, restartCount: UInt32) {
        self.clock = clock
        self.resetCount = resetCount
        self.restartCount = restartCount
    }

    public init(_ info: ClockInfo) {
        self.init(clock: info.clock, resetCount: info.resetCount, restartCount: info.restartCount)
    }

    /// How `next` follows `self`.
    public enum Continuity: String, Hashable, Sendable, Codable {
        /// Same boot cycle, clock moved forward (or stood still).
        case continuous
        /// TPM2_Shutdown(STATE)/Startup(STATE): a resume from hibernation, restartCount went up.
        case restarted
        /// TPM Reset: resetCount went up. The platform rebooted; PCRs started again from zero.
        case rebooted
    }

    /// Classifies `next` against this earlier observation, or fails if any counter went back.
    public func continuity(to next: ClockObservation) -> Result<Continuity, AttestationError> {
        if next.resetCount < resetCount {
            return .failure(AttestationError(.resetCountWentBack, "resetCount went back from \(resetCount) to \(next.resetCount)"))
        }
        if next.resetCount > resetCount { return .success(.rebooted) }
        if next.restartCount < restartCount {
            return .failure(AttestationError(.restartCountWentBack, "restartCount went back from \(restartCount) to \(next.restartCount) without a reset"))
        }
        if next.restartCount > restartCount { return .success(.restarted) }
        if next.clock < clock {
            return .failure(AttestationError(.clockWentBack, "clock went back from \(clock) to \(next.clock) ms within one boot cycle"))
        }
        return .success(.continuous)
    }
}
