import ServiceLifecycle
import UnixSignals

/// SIGHUP reloads the region policy (the unit's `ExecReload`); the outcome is logged and audited by the reloader.
struct ReloadOnHangUp: Service {
    let reloader: PolicyReloader

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            _ = try? await reloader.reload(trigger: "SIGHUP")
        }
    }
}
