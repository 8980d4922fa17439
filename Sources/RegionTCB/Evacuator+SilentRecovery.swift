import Foundation
import Logging
import Migration
import Policy

extension Evacuator {
    /// A host evacuated because it fell silent (`unreachable`, confirmed by the RC-TCB's own challenge) and with no
    /// move in flight is challenged by the RC-TCB now. If its evidence verifies `trusted` (enrolled AK, the RC-TCB's
    /// nonce, clock continuity, golden values), the evacuation ends: the host takes the state of its latest verdict
    /// (`trusted`, unless a newer verdict came in between) and, once `trusted`, the VMs held paused there for want
    /// of a target resume in place or stay paused, as `evacuation.silent-recovered` says. Returns whether the
    /// evacuation ended.
    func recoverIfTrusted(_ host: String, evacuation: EvacuationRecord) async -> Bool {
        let mine = ((try? await orchestrator.inventory.vms()) ?? []).filter { $0.host == host && $0.state != .stopped && $0.state != .lost }
        guard !mine.contains(where: { $0.state == .migrating }), let cfg = await region.config(host) else { return false }
        let asked = Date()
        _ = await region.challengeDirectly(cfg, reason: "evacuated while silent: does it prove good again?", now: asked)
        // The row stays `evacuating`; the verdict's own state says what the challenge found.
        guard let row = try? await store.row(host), row.state == .evacuating, row.verdictState == .trusted,
              let verified = row.lastQuoteAt, verified >= asked else { return false }
        let policy = self.policy.evacuation.silentRecovered
        let ended: HostState?
        do {
            ended = try await region.endEvacuation(host: host, detail: "verified trusted after its silence (evacuation.silent-recovered: \(policy.rawValue))")
        } catch {
            logger.error("cannot end the evacuation", metadata: ["attest.host": "\(host)", "attest.reason": "\(error)"])
            return false
        }
        // A newer verdict came in between: the host took that state and is judged (and evacuated, with that verdict
        // as the new cause) again from there.
        guard ended == .trusted else {
            try? await records.close(host: host, outcome: "ended", detail: "verified trusted, then \(ended?.rawValue ?? "unknown") before the evacuation ended")
            return true
        }
        let paused = mine.filter { $0.state == .paused }.map(\.name)
        var resumed: [String] = []
        var failed: [String] = []
        if policy == .resumeInPlace {
            for vm in paused {
                do {
                    try await orchestrator.resumeVM(vm, why: "\(host) verified trusted again after its silence (evacuation.silent-recovered: resume-in-place)")
                    resumed.append(vm)
                } catch {
                    failed.append(vm)
                    logger.error("cannot resume the VM in place", metadata: ["attest.vm": "\(vm)", "attest.host": "\(host)", "attest.reason": "\(error)"])
                }
            }
        }
        for vm in mine { held.remove(vm.name) }
        let kept = paused.filter { !resumed.contains($0) }
        let detail = "verified trusted after its silence; evacuation.silent-recovered: \(policy.rawValue); "
            + "resumed in place: [\(resumed.joined(separator: ", "))], kept paused: [\(kept.joined(separator: ", "))]"
            + (failed.isEmpty ? "" : ", resume failed: [\(failed.joined(separator: ", "))]")
        try? await records.close(host: host, outcome: "recovered", detail: detail)
        await audit(host, .recovered, code: evacuation.causeCode, detail, EvacuationFields(vm: nil, source: host))
        logger.notice("silent host verified trusted again; evacuation ended",
                      metadata: ["attest.host": "\(host)", "attest.resumed": "\(resumed.count)", "attest.kept-paused": "\(kept.count)"])
        await refreshPlacement()
        return true
    }
}
