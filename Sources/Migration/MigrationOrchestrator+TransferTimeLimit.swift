extension MigrationOrchestrator {
    /// `transfer`, ended with `transfer-time-limit` when it has not finished within `limit`. Ending it cancels the
    /// driver's transfer task (the stream's termination); the orchestrator then rolls the move back, which cancels the
    /// migration at the source (libvirt's abort, QMP's `migrate_cancel`, the agent's cancel order), so the VM keeps
    /// running where it was. Without a limit, `transfer` itself.
    static func limited(_ transfer: AsyncThrowingStream<MigrationProgress, any Error>, to limit: Duration?,
                        vm: String) -> AsyncThrowingStream<MigrationProgress, any Error> {
        guard let limit else { return transfer }
        return AsyncThrowingStream { continuation in
            let pump = Task {
                do {
                    for try await progress in transfer { continuation.yield(progress) }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            let timer = Task {
                try await Task.sleep(for: limit)
                continuation.finish(throwing: MigrationError(
                    .transferTimeLimit, side: .source,
                    "the transfer of \(vm) did not finish within \(limit); it is cancelled and \(vm) stays on its source "
                        + "(hint: migration.transfer-time-limit, max-bandwidth-mibps and auto-converge in the region policy)"))
            }
            continuation.onTermination = { _ in
                pump.cancel()
                timer.cancel()
            }
        }
    }
}
