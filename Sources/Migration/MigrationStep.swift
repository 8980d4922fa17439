/// The steps of one migration, in order. The inventory records each one *after* it
/// happened, so a crash leaves the last completed step on disk.
package enum MigrationStep: String, Codable, Sendable, CaseIterable, Comparable {
    /// Migration row written, target port reserved; nothing launched yet.
    case planned
    /// Target process launched, paused, waiting for the state.
    case targetPrepared = "target-prepared"
    /// `migrate` issued on the source.
    case transferStarted = "transfer-started"
    /// Transfer completed: source paused (postmigrate), target holds the state, still paused.
    case transferred
    /// Target resumed: it now runs the VM.
    case targetResumed = "target-resumed"
    /// Source process stopped and cleaned up.
    case sourceStopped = "source-stopped"
    /// Inventory says the VM lives on the target; migration closed.
    case completed

    package static func < (lhs: MigrationStep, rhs: MigrationStep) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}
