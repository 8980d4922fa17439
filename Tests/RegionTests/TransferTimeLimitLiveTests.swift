import Foundation
import RegionLab
import Migration
import NamespaceLab
import NIOCore
import RegionProtocol
import RegionTCB
import SmigTestSupport
import Testing

/// A transfer that would take longer than the region's `migration.transfer-time-limit` — here a libvirt domain moved by
/// agent orders over a link capped at 1 MiB/s — is cancelled at the source when the limit comes: the domain keeps
/// running on its host, nothing is left on the target, the move is rolled back rather than left waiting forever.
@Suite("Migration transfer time limit, on two libvirt hosts", .serialized)
struct TransferTimeLimitLiveTests {
    @Test func aTransferPastTheTimeLimitIsCancelledAndTheDomainKeepsRunningAtItsSource() async throws {
        try await LibvirtLab.run { lab in
            let r = try await AgentOrderLiveTests.region(lab)
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            let vm = "counter-slow"
            try await lab.defineCountingGuest(vm, on: lab.a)
            try await waitUntilAsync("the guest counts on A", seconds: 120) { lab.ticks(of: vm).latest >= 2 }
            // 64 MiB at 1 MiB/s takes about a minute; the limit is 3 s.
            let side = try AgentOrderCrashLiveTests.RCTCBSide(r, vm: vm, inventory: "\(r.dir)/slow.sqlite",
                                                             tuning: .init(maxBandwidthMiBps: 1, downtimeLimitMs: 50, autoConverge: false),
                                                             transferTimeLimit: .seconds(3))
            defer { Task { await side.client.shutdown() } }
            let (inventory, orchestrator) = (side.inventory, side.orchestrator)
            let before = lab.ticks(of: vm).latest

            let error = await #expect(throws: MigrationError.self) { _ = try await orchestrator.migrate(vm: vm, to: "host-2") }
            #expect(error?.code == .transferTimeLimit, "\(String(describing: error))")

            // The source's agent was ordered to cancel: libvirt aborted the job, the domain runs on A only.
            try await waitUntilAsync("the domain is on A only", seconds: 120) {
                let onA = try await AgentOrderLiveTests.domains(lab, lab.a), onB = try await AgentOrderLiveTests.domains(lab, lab.b)
                return onA == [vm: "running"] && onB.isEmpty
            }
            #expect(try inventory.openMigrations().isEmpty, "the move was rolled back")
            #expect(try inventory.vm(named: vm).host == "host-1" && inventory.vm(named: vm).state == .running)
            try await AgentOrderLiveTests.ticksGrow(lab, vm, past: before)
            let ticks = lab.ticks(of: vm)
            #expect(ticks.boots == 1 && ticks.duplicates == 0 && ticks.memoryErrors == 0, "\(ticks)")
        }
    }
}
