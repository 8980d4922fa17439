import Foundation
import Logging
import Policy
import ServiceLifecycle
import DurationUnits

/// The RC-TCB's clock: direct challenges of hosts the ring has not vouched for recently (or that are new,
/// rebooted, stale or silent), `stale` marking, and ring rotation. With several RC-TCBs on one store, only the
/// leader's runs (``RegionLeadership/mayAct``); each time this RC-TCB comes to lead, it first finishes what the
/// previous leader (or run) left half done.
struct RegionScheduler: Service {
    let region: RegionState
    let policy: RegionPolicy
    let evacuator: Evacuator
    let logger: Logger
    /// Whether this RC-TCB may act now; nil: it is the region's only one.
    var leadership: RegionLeadership?

    func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            guard leadership?.mayAct ?? true else {
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            // What a previous run or leader left half done is finished first (a copy on an unattested host stays paused).
            await evacuator.resumeAfterRestart()
            await lead()
        }
    }

    /// The rounds, while this RC-TCB leads.
    func lead() async {
        var lastSweep = Date()
        let challenge = policy.challengeInterval.inSeconds
        let freshness = policy.quoteFreshness.inSeconds
        let rotateEvery = max(challenge * 5, 1)
        var lastRotation = Date()
        var lastDirect: [String: Date] = [:]
        while !Task.isCancelled && !Task.isShuttingDownGracefully && (leadership?.mayAct ?? true) {
            let now = Date()
            await region.refresh(now: now)
            await region.markStale(now: now, freshness: freshness)
            let due = await region.overdue(now: now, maxAge: challenge * 2)
            await withTaskGroup(of: Void.self) { group in
                for cfg in due where now.timeIntervalSince(lastDirect[cfg.id] ?? .distantPast) >= min(challenge, 2) {
                    lastDirect[cfg.id] = now
                    group.addTask { await region.challengeDirectly(cfg, reason: "scheduled", now: Date()) }
                }
            }
            if now.timeIntervalSince(lastSweep) >= 2 {
                await evacuator.sweep()
                lastSweep = now
            }
            if now.timeIntervalSince(lastRotation) >= rotateEvery {
                await region.rotate()
                lastRotation = now
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }
}
