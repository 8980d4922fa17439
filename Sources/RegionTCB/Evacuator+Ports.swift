import Logging
import Migration
import Policy

extension Evacuator {
    /// The ungated part of a move (to `transferred`, the target paused). A port of the target taken by something
    /// outside this RC-TCB's moves (an operator's migration, another program) is waited for, not a failure of
    /// the target: the move is tried again every half second for up to two minutes.
    func migrateWhenAPortIsFree(_ vm: String, to target: String) async throws -> MigrationReport {
        var attempts = 0
        while true {
            do {
                return try await orchestrator.migrate(vm: vm, to: target, resume: false, afterStep: { step in self.checkpointNow(step.rawValue) })
            } catch let error as MigrationError where error.code == .noFreePort && attempts < 240 {
                attempts += 1
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    /// Moves into one host run at most as many at once as it has incoming migration ports: a range smaller than
    /// `evacuation.max-parallel` slows evacuations into it (they wait for ports), so the operator is told.
    func warnAboutPortRanges() async {
        let parallel = policy.evacuation.maxParallel
        for host in (try? await orchestrator.inventory.hosts()) ?? [] where host.ports.count < parallel {
            logger.warning("host has fewer incoming migration ports than evacuation.max-parallel; moves into it wait for a port",
                           metadata: ["attest.host": "\(host.name)", "attest.ports": "\(host.portLow)-\(host.portHigh)", "attest.max-parallel": "\(parallel)"])
        }
    }
}
