#if canImport(Glibc)
import Glibc
#endif
import Foundation
import NamespaceLab
import Libvirt
import SmigTestSupport
import Testing

/// Two libvirt hosts in namespaces (``LibvirtLab``) and a QEMU/TCG guest that keeps counting, moved through the
/// `Libvirt` API. Serialized: each test boots two libvirt daemons and a TCG guest, and this machine has two cores.
@Suite("libvirt: two hosts", .serialized)
struct LibvirtDriverLiveTests {
    init() throws {
        try #require(getuid() == 0, "the libvirt lab needs root (namespaces, libvirtd); never skipped")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/sbin/libvirtd"), "libvirtd is required (scripts/install-deps)")
    }

    @Test("each host lists its domains: name, UUID, vCPUs, memory, state")
    func listing() async throws {
        try await LibvirtLab.run { lab in
            let counter = UUID(), idle = UUID()
            try await lab.defineCountingGuest("counter", uuid: counter, on: lab.a)
            try await lab.defineCountingGuest("idle", uuid: idle, memoryMiB: 32, vcpus: 2, on: lab.b, start: false)
            let a = try await LibvirtConnection.open(lab.a.localURI)
            let b = try await LibvirtConnection.open(lab.b.localURI)

            let onA = try await a.domains()
            #expect(onA == [DomainInfo(name: "counter", uuid: counter, state: .running, vcpus: 1, memoryKiB: 64 << 10,
                                       maxMemoryKiB: 64 << 10, persistent: true)])
            let onB = try await b.domains()
            #expect(onB.map(\.name) == ["idle"])
            #expect(onB.first?.uuid == idle)
            #expect(onB.first?.state == .shutOff)
            #expect(onB.first?.vcpus == 2)
            #expect(onB.first?.maxMemoryKiB == 32 << 10)

            // The host's room, as virsh nodeinfo prints it ("CPU(s):  2", "Memory size:  24594232 KiB").
            let node = try await a.nodeInfo()
            let printed = try await lab.virsh(lab.a, "nodeinfo")
            func field(_ name: String) -> String? {
                printed.split(separator: "\n").first { $0.hasPrefix(name) }
                    .map { $0.dropFirst(name.count).split(separator: " ").first.map(String.init) ?? "" }
            }
            #expect(field("CPU(s):").flatMap(Int.init) == node.cpus && node.cpus >= 1, "\(printed)")
            #expect(field("Memory size:").flatMap(UInt64.init) == node.memoryKiB && node.memoryKiB > 0, "\(printed)")

            // Looked up by name and by UUID: the same domain.
            #expect(try await a.domain(named: "counter").uuid == counter)
            #expect(try await a.domain(uuid: counter).name == "counter")
            #expect(try await b.domain(uuid: idle).state() == .shutOff)
            let missing = await #expect(throws: LibvirtError.self) { _ = try await a.domain(named: "idle") }
            #expect(missing?.code == .noDomain, "\(String(describing: missing))")
            await #expect(throws: LibvirtError(.noDomain, function: "", message: "")) { _ = try await b.domain(uuid: counter) }

            await a.close()
            await b.close()
            await #expect(throws: LibvirtError(.closed, function: "", message: "")) { _ = try await a.domains() }
        }
    }

    @Test("a running guest moves A → B live with B paused, resumes on B, keeps counting, and moves back")
    func migrateAndBack() async throws {
        try await withCounterOnA { lab, a, b in
            let before = try await ticksGrow(lab, beyond: 0)

            // A → B, destination paused; the memory goes where B's qemu.conf says (migration_host).
            let started = ContinuousClock.now
            try await a.domain(named: "counter").migrate(to: lab.b.tcpURI)
            let took = ContinuousClock.now - started
            let onB = try await b.domain(named: "counter")
            #expect(try await onB.state() == .paused)
            #expect(try await onB.info().persistent, "defined on B (VIR_MIGRATE_PERSIST_DEST)")
            #expect(try await a.domains().isEmpty, "gone from A's list")
            await #expect(throws: LibvirtError(.noDomain, function: "", message: ""), "not defined on A (VIR_MIGRATE_UNDEFINE_SOURCE)") {
                _ = try await a.domain(named: "counter")
            }
            let figures = try await onB.jobStats(completed: true)
            print("libvirt migrate A → B: \(took) (libvirt: \(describe(figures)))")

            // Paused on B and gone from A: nothing counts.
            let frozen = lab.ticks(of: "counter").latest
            #expect(frozen >= before)
            try await Task.sleep(for: .seconds(2))
            #expect(lab.ticks(of: "counter").latest == frozen, "nothing runs the guest before the resume")

            try await onB.resume()
            #expect(try await onB.state() == .running)
            let afterResume = try await ticksGrow(lab, beyond: frozen)
            let once = lab.ticks(of: "counter")
            #expect(once.boots == 1 && once.duplicates == 0 && once.memoryErrors == 0, "\(once)")

            // B → A with every parameter set, the memory over an explicit migrate URI.
            let parameters = MigrationParameters(bandwidthMiBPerSecond: 1024, maxDowntimeMs: 100, autoConverge: true,
                                                 parallelConnections: 2, migrateURI: lab.a.migrateURI)
            let backStarted = ContinuousClock.now
            try await onB.migrate(to: lab.a.tcpURI, parameters: parameters)
            let backTook = ContinuousClock.now - backStarted
            let onA = try await a.domain(named: "counter")
            #expect(try await onA.state() == .paused)
            #expect(try await b.domains().isEmpty, "gone from B's list")
            print("libvirt migrate B → A: \(backTook) (libvirt: \(describe(try await onA.jobStats(completed: true))))")
            try await onA.resume()
            _ = try await ticksGrow(lab, beyond: max(afterResume, lab.ticks(of: "counter").latest))

            let all = lab.ticks(of: "counter")
            #expect(all.boots == 1, "one boot across both moves: \(all)")
            #expect(all.duplicates == 0, "no tick twice: \(all)")
            #expect(all.memoryErrors == 0, "the guest's memory arrived intact: \(all)")
            #expect(try await a.domains().map(\.state) == [.running])
            print("libvirt guest after two moves: \(all)")
        }
    }

    @Test("a migration to an unreachable host fails with migrate-failed and the guest keeps running on A")
    func unreachableDestination() async throws {
        try await withCounterOnA { lab, a, _ in
            let domain = try await a.domain(named: "counter")
            let before = try await ticksGrow(lab, beyond: 0)

            let error = await #expect(throws: LibvirtError.self) { try await domain.migrate(to: lab.unreachableURI) }
            #expect(error?.code == .migrateFailed, "\(String(describing: error))")
            #expect(error?.function == "virDomainMigrateToURI3")
            #expect(error?.message.isEmpty == false)

            #expect(try await domain.state() == .running)
            #expect(try await a.domains().map(\.name) == ["counter"])
            _ = try await ticksGrow(lab, beyond: before)
            let ticks = lab.ticks(of: "counter")
            #expect(ticks.boots == 1 && ticks.duplicates == 0, "\(ticks)")
        }
    }

    @Test("an aborted migration (and a cancelled one) leaves the guest running on A and nothing on B")
    func abortThrottled() async throws {
        try await withCounterOnA { lab, a, b in
            let domain = try await a.domain(named: "counter")
            var seen = try await ticksGrow(lab, beyond: 0)
            // At 1 MiB/s the copy of 64 MiB, re-dirtied by 4 MiB a second, never ends: it is copying when stopped.
            let throttled = MigrationParameters(bandwidthMiBPerSecond: 1)

            for stop in ["virDomainAbortJob", "task cancellation"] {
                let outcome = Outcome()
                let migration = Task {
                    do {
                        try await domain.migrate(to: lab.b.tcpURI, parameters: throttled)
                        await outcome.set(.success(()))
                    } catch {
                        await outcome.set(.failure(error))
                    }
                }
                try await waitUntilAsync("the migration copies memory", seconds: 120) {
                    let stats = try await domain.jobStats()
                    return stats.kind != .none && (stats.dataProcessed ?? 0) > 0
                }
                let progress = try await domain.jobStats()
                #expect(progress.kind == .unbounded, "a migration runs until it converges")
                #expect((progress.dataTotal ?? 0) >= 64 << 20, "all the guest's RAM is to be sent: \(describe(progress))")
                #expect(progress.timeElapsedMs != nil && progress.dataRemaining != nil)
                if stop == "task cancellation" { migration.cancel() } else { try await domain.abortJob() }

                // Bounded: should the abort never arrive, the test fails, and the lab's teardown ends the call.
                try await waitUntilAsync("the migration ends after \(stop)", seconds: 120) { await outcome.result != nil }
                let result = try #require(await outcome.result)
                #expect(throws: LibvirtError(.aborted, function: "", message: ""), "stopped by \(stop)") { try result.get() }
                #expect(try await domain.state() == .running, "still running on A after \(stop)")
                try await waitUntilAsync("B has no copy after \(stop)", seconds: 60) { try await b.domains().isEmpty }
                seen = try await ticksGrow(lab, beyond: seen)
            }
            await #expect(throws: LibvirtError(.operationInvalid, function: "", message: ""), "no job left to abort") {
                try await domain.abortJob()
            }
            let ticks = lab.ticks(of: "counter")
            #expect(ticks.boots == 1 && ticks.duplicates == 0 && ticks.memoryErrors == 0, "\(ticks)")
        }
    }

    /// A lab with the counting guest started on A, and connections to both hosts.
    private func withCounterOnA(_ body: (LibvirtLab, LibvirtConnection, LibvirtConnection) async throws -> Void) async throws {
        try await LibvirtLab.run { lab in
            try await lab.defineCountingGuest("counter", on: lab.a)
            try await body(lab, try await LibvirtConnection.open(lab.a.localURI), try await LibvirtConnection.open(lab.b.localURI))
        }
    }

    /// Waits (up to two minutes: TCG on a loaded machine is slow) until the guest printed a tick past `tick`, and
    /// returns the latest.
    private func ticksGrow(_ lab: LibvirtLab, beyond tick: UInt32) async throws -> UInt32 {
        try await waitUntilAsync("the guest counts past \(tick)", seconds: 120) { lab.ticks(of: "counter").latest > tick }
        return lab.ticks(of: "counter").latest
    }

    private func describe(_ stats: JobStats) -> String {
        func mib(_ v: UInt64?) -> String { v.map { String(format: "%.1f MiB", Double($0) / 1_048_576) } ?? "-" }
        return "\(stats.kind), elapsed \(stats.timeElapsedMs.map { "\($0) ms" } ?? "-"), total \(mib(stats.dataTotal)), "
            + "processed \(mib(stats.dataProcessed)), remaining \(mib(stats.dataRemaining)), downtime \(stats.downtimeMs.map { "\($0) ms" } ?? "-")"
    }
}

/// How a migration started in a task of its own ended, once it has.
private actor Outcome {
    private(set) var result: Result<Void, any Error>?

    func set(_ result: Result<Void, any Error>) { self.result = result }
}
