#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Migration
import Testing

/// The orchestrator (in the test tool `smig-migration-crash`) is SIGKILLed right after each step is
/// committed, then `smig-attest vms --recover` runs. Every time exactly one
/// running copy must remain, and the guest must still be counting.
@Suite("Crash at every step, then recover", .serialized)
struct CrashRecoveryLiveTests {
    @Test("SIGKILL after step, recover, exactly one running copy", arguments: MigrationStep.allCases)
    func crashThenRecover(_ step: MigrationStep) async throws {
        try #require(Env.hasQEMU, "qemu-system-x86_64 is required (never skipped)")
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.orchestrator.startVM(f.vm("k1"), on: "a")
        let before = try await f.counterGrows("k1", on: f.a, beyond: 0)

        let crashed = try await f.crashingMigration("k1", to: "b", after: step)
        #expect(crashed == 128 + SIGKILL, "the orchestrator died by SIGKILL")
        let open = try f.inventory.openMigrations()
        if step == .completed {
            #expect(open.isEmpty)
        } else {
            #expect(open.map(\.step) == [step], "the inventory shows the step it crashed after")
        }

        let recovered = try await f.cli(["vms", "--recover", "--json"])
        #expect(recovered.status == 0, "\(recovered.stderr)")
        #expect(try f.inventory.openMigrations().isEmpty)

        // Exactly one live process for k1, and it runs.
        let pids = f.processes()
        #expect(pids.count == 1, "one QEMU left, found \(pids)")
        let record = try f.inventory.vm(named: "k1")
        #expect(record.state == .running)
        let home = record.host == "a" ? f.a : f.b
        let away = record.host == "a" ? f.b : f.a
        #expect(await f.driver.state(of: f.instance("k1", on: home)) == .running)
        #expect(await f.driver.state(of: f.instance("k1", on: away)) == .absent)
        // Before the transfer, recovery keeps the source; once the target ran, the target. In between QEMU may
        // have finished the transfer on its own after the crash: a complete paused target then takes over.
        if step < .transferStarted { #expect(record.host == "a") }
        if step >= .targetResumed { #expect(record.host == "b") }
        if step == .transferred { #expect(record.host == "b", "the transfer was complete: the target takes over") }
        let now = try await f.counterGrows("k1", on: home, beyond: before)
        #expect(now > before, "the guest kept its memory and keeps counting")
        let later = try await f.counterGrows("k1", on: home, beyond: now)
        #expect(later > now)
    }
}
