#if canImport(Glibc)
import Glibc
import BuiltInGuests
#endif
import Foundation
import Migration
import Testing

/// Everything that runs real `qemu-system-x86_64` processes. Serialized: each test spins
/// TCG guests that use a full core, and this machine has two.
@Suite("Live QEMU", .serialized)
struct QEMULiveTests {
    init() throws {
        try #require(Env.hasQEMU, "qemu-system-x86_64 is required (never skipped)")
    }

    // MARK: - The move itself

    @Test("a running guest moves, keeps counting on the target, and leaves no copy on the source")
    func migrateKeepsCounting() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.orchestrator.startVM(f.vm("g1"), on: "a")
        let start = try await f.counter("g1", on: f.a)
        let before = try await f.counterGrows("g1", on: f.a, beyond: start)
        #expect(before > start, "the guest counts on the source")

        // Move with the target kept paused.
        let report = try await f.orchestrator.migrate(vm: "g1", to: "b", resume: false)
        #expect(report.final.isCompleted)
        #expect(report.final.transferredBytes > 0)
        let target = f.driver.instance(of: "g1", on: f.b, port: report.port)
        #expect(await f.driver.state(of: target) == .paused)
        #expect(await f.driver.state(of: f.instance("g1", on: f.a)) == .postMigrate)
        #expect(try f.inventory.openMigrations().map(\.step) == [.transferred])

        // The destination does not run before resume: its counter stands still.
        let frozen = try await f.counter("g1", on: f.b)
        #expect(frozen >= before, "the target holds the state sent from the source")
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await f.counter("g1", on: f.b) == frozen)

        try await f.orchestrator.resumeMigration(vm: "g1")
        let after = try await f.counterGrows("g1", on: f.b, beyond: frozen)
        #expect(after > before, "counter on the target is past the one read before the move")
        let later = try await f.counterGrows("g1", on: f.b, beyond: after)
        #expect(later > after, "and it keeps growing")

        #expect(await f.driver.state(of: f.instance("g1", on: f.a)) == .absent)
        #expect(try await f.driver.listVMs(on: f.a).isEmpty)
        #expect(try await f.driver.listVMs(on: f.b).map(\.name) == ["g1"])
        let record = try f.inventory.vm(named: "g1")
        #expect(record.host == "b" && record.state == .running)
        #expect(try f.inventory.openMigrations().isEmpty)
        #expect(f.processes().count == 1)
    }

    @Test("progress is reported and QEMU's own figures are kept")
    func progressAndFigures() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.orchestrator.startVM(f.vm("g2", memoryMiB: 48), on: "a")
        let seen = ProgressLog()
        let report = try await f.orchestrator.migrate(vm: "g2", to: "b", progress: { seen.add($0) })
        let statuses = seen.all.map(\.status)
        #expect(statuses.last == "completed")
        #expect(report.final.totalBytes >= 48 << 20)
        // The guest touched every page, so (nearly) all of its RAM crossed the wire.
        #expect(report.final.transferredBytes >= 46 << 20)
        let top = try await f.driver.readGuestWord(f.instance("g2", on: f.b), physicalAddress: TestGuest.ramTopAddress)
        #expect(top == 48 << 20, "the guest saw 48 MiB of RAM")
        #expect(report.final.totalTimeMs != nil && report.final.downtimeMs != nil)
        #expect(report.guestPauseMs != nil)
        #expect(report.resumed)
        #expect(f.processes().count == 1)
    }

    @Test("cancel during the transfer: the source keeps running, the target is stopped")
    func cancelMidway() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let vm = f.vm("g9")
        let source = try await f.driver.start(vm, on: f.a)
        // Throttle the source so the transfer is still running when we cancel.
        let qmp = try await QMPClient.connect(path: source.controlPath)
        try await qmp.execute("migrate-set-parameters", ["max-bandwidth": .number(128 * 1024)])
        qmp.close()
        let target = try await f.driver.prepareTarget(vm, on: f.b, port: f.b.portLow)
        let stream = f.driver.migrate(vm, from: source, to: target)
        let outcome = Task { () -> MigrationError? in
            do {
                for try await _ in stream {}
                return nil
            } catch let error as MigrationError {
                return error
            } catch {
                return MigrationError(.io, "\(error)")
            }
        }
        // Wait until the source reports an active migration, then cancel. Generous: under a loaded machine the
        // migration may take long to start (at 128 KiB/s it then runs for minutes, so it is still active when
        // cancelled); a cancel sent before it started would cancel nothing, and the migration would complete.
        var status: String?
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            let q = try await QMPClient.connect(path: source.controlPath)
            status = try await q.execute("query-migrate")["status"]?.string
            q.close()
            if status == "active" { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        try #require(status == "active", "the migration never became active (last status \(status ?? "none"))")
        try await f.driver.cancel(from: source)
        let error = await outcome.value
        #expect(error?.code == .cancelled)
        #expect(await f.driver.state(of: source) == .running)
        // QEMU's incoming side exits when the stream breaks off; either way it never ran.
        let targetState = await f.driver.state(of: target)
        #expect(targetState == .incoming || targetState == .absent, "the target never ran (\(targetState))")
        try await f.driver.stop(target)
        #expect(f.processes().count == 1)
    }

    // MARK: - Bad input

    @Test("unknown VM, unknown host, same host: clear errors and nothing launched")
    func badNames() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.orchestrator.startVM(f.vm("g3"), on: "a")
        let e1 = await #expect(throws: MigrationError.self) { try await f.orchestrator.migrate(vm: "ghost", to: "b") }
        #expect(e1?.code == .unknownVM)
        let e2 = await #expect(throws: MigrationError.self) { try await f.orchestrator.migrate(vm: "g3", to: "nowhere") }
        #expect(e2?.code == .unknownHost)
        let e3 = await #expect(throws: MigrationError.self) { try await f.orchestrator.migrate(vm: "g3", to: "a") }
        #expect(e3?.code == .invalidArgument)
        let e4 = await #expect(throws: MigrationError.self) { try await f.orchestrator.startVM(f.vm("g4"), on: "nowhere") }
        #expect(e4?.code == .unknownHost)
        #expect(f.processes().count == 1, "only g3's source process")
        #expect(try f.inventory.vms().map(\.name) == ["g3"])
        #expect(try f.inventory.migrations(vm: "g3").isEmpty)
        #expect(await f.driver.state(of: f.instance("g3", on: f.a)) == .running)
    }

    @Test("an inventory description that does not match the running VM stops the move before it starts")
    func descriptionMismatch() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        // The process runs 32 MiB, the inventory says 48 MiB.
        _ = try await f.driver.start(f.vm("g5", memoryMiB: 32), on: f.a)
        try f.inventory.addVM(f.vm("g5", memoryMiB: 48), host: "a", state: .running)
        let error = await #expect(throws: MigrationError.self) { try await f.orchestrator.migrate(vm: "g5", to: "b") }
        #expect(error?.code == .descriptionMismatch)
        #expect(error?.side == .source)
        #expect(try f.inventory.migrations(vm: "g5").isEmpty)
        #expect(f.processes().count == 1)
        #expect(await f.driver.state(of: f.instance("g5", on: f.a)) == .running)
    }

    @Test("a target whose memory differs fails the transfer; the source keeps running")
    func targetMismatch() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let source = try await f.driver.start(f.vm("g6", memoryMiB: 32), on: f.a)
        let target = try await f.driver.prepareTarget(f.vm("g6", memoryMiB: 48), on: f.b, port: f.b.portLow)
        let error = await #expect(throws: MigrationError.self) {
            for try await _ in f.driver.migrate(f.vm("g6", memoryMiB: 32), from: source, to: target) {}
        }
        #expect(error?.code == .migrationFailed)
        // The orchestrator's rollback: cancel, stop the target; here done by hand through the driver.
        try await f.driver.cancel(from: source)
        try await f.driver.stop(target)
        #expect(await f.driver.state(of: source) == .running)
        #expect(await f.driver.state(of: target) == .absent)
        #expect(f.processes().count == 1)
    }

    @Test("a target that cannot start: the orchestrator rolls back, the source keeps running")
    func targetLaunchFails() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        // Host c's state directory lies under a regular file, so nothing can start there.
        try f.inventory.addHost(MigrationHost(name: "c", address: "127.0.0.1", portLow: f.a.portLow - 5000, portHigh: f.a.portLow - 4990,
                                              stateDirectory: "\(f.image)/c"))
        try await f.orchestrator.startVM(f.vm("g10"), on: "a")
        let error = await #expect(throws: MigrationError.self) { try await f.orchestrator.migrate(vm: "g10", to: "c") }
        #expect(error?.code == .launchFailed)
        #expect(error?.side == .target)
        let history = try f.inventory.migrations(vm: "g10")
        #expect(history.map(\.outcome) == [.rolledBack])
        #expect(history.map(\.step) == [.planned])
        let record = try f.inventory.vm(named: "g10")
        #expect(record.host == "a" && record.state == .running)
        #expect(await f.driver.state(of: f.instance("g10", on: f.a)) == .running)
        #expect(f.processes().count == 1)
    }

    @Test("a QMP socket that answers garbage or hangs: bounded failure, nothing left running",
          arguments: [FakeQMPServer.Behaviour.garbage, .silent])
    func fakeQEMU(_ behaviour: FakeQMPServer.Behaviour) async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        // A stand-in for qemu that daemonises, writes its pid file and never opens QMP;
        // the test serves garbage (or nothing) on the QMP path instead.
        let fake = "\(f.dir)/fake-qemu"
        try """
            #!/bin/sh
            if [ "$1" = "--child" ]; then while :; do sleep 1; done; fi
            pidfile=""
            prev=""
            for a in "$@"; do
                if [ "$prev" = "-pidfile" ]; then pidfile="$a"; fi
                prev="$a"
            done
            "$0" --child "$@" >/dev/null 2>&1 &
            echo $! > "$pidfile"
            exit 0
            """.write(toFile: fake, atomically: true, encoding: .utf8)
        chmod(fake, 0o755)
        let driver = QEMUDriver(configuration: .init(qemuBinary: fake, qmpTimeout: .milliseconds(800)))
        let vm = f.vm("g7")
        let inst = driver.instance(of: "g7", on: f.a)
        let server = try FakeQMPServer(path: inst.controlPath, behaviour: behaviour, after: inst.pidFile)
        defer { server.stop() }
        let error = await #expect(throws: MigrationError.self) { try await driver.start(vm, on: f.a) }
        #expect(error?.code == (behaviour == .garbage ? .qmpProtocol : .qmpTimeout))
        #expect(error?.side == .source)
        let leftovers = f.processes().filter { pid in
            let cmd = (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8)) ?? ""
            return cmd.contains("--child")
        }
        #expect(leftovers.isEmpty, "the stand-in was killed")
    }

    @Test("a missing hypervisor binary is a clear error")
    func missingBinary() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let driver = QEMUDriver(configuration: .init(qemuBinary: "/nonexistent/qemu-system-x86_64"))
        let error = await #expect(throws: MigrationError.self) { try await driver.start(f.vm("g8"), on: f.a) }
        #expect(error?.code == .hypervisorMissing)
        #expect(f.processes().isEmpty)
    }

    @Test("recovery reports a VM whose process died as lost, and stops a stray copy")
    func recoveryReportsLoss() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        try await f.orchestrator.startVM(f.vm("r1"), on: "a")
        try await f.orchestrator.startVM(f.vm("r2"), on: "a")
        // r1's process dies behind our back; r2 gets an extra copy on b that nobody recorded.
        let pid = try #require(ProcessSupportProbe.pid(f.instance("r1", on: f.a).pidFile))
        kill(pid, SIGKILL)
        _ = try await f.driver.start(f.vm("r2"), on: f.b)
        let actions = try await Recovery(orchestrator: f.orchestrator).run()
        #expect(actions.contains(Recovery.Action(vm: "r1", host: "a", action: "lost", detail: "no process on a")))
        #expect(actions.contains { $0.vm == "r2" && $0.host == "b" && $0.action == "stray-stopped" })
        #expect(!Recovery.succeeded(actions))
        #expect(try f.inventory.vm(named: "r1").state == .lost)
        #expect(await f.driver.state(of: f.instance("r2", on: f.b)) == .absent)
        #expect(await f.driver.state(of: f.instance("r2", on: f.a)) == .running)
        // The CLI says so with a non-zero exit.
        let cli = try await f.cli(["vms", "--recover"])
        #expect(cli.status != 0)
        #expect(cli.stderr.contains("r1 lost"))
    }

    @Test("recovery tells a slow VM (process alive, QMP silent) from a lost one and changes nothing")
    func recoveryReportsSlow() async throws {
        let f = try Fixture(qmpTimeout: .seconds(1))
        defer { f.cleanUp() }
        try await f.orchestrator.startVM(f.vm("s1"), on: "a")
        let pid = try #require(ProcessSupportProbe.pid(f.instance("s1", on: f.a).pidFile))
        // A stopped process keeps its QMP socket listening but never answers: the time-out of a loaded host.
        kill(pid, SIGSTOP)
        let actions = try await Recovery(orchestrator: f.orchestrator).run()
        kill(pid, SIGCONT)
        let slow = try #require(actions.first { $0.vm == "s1" })
        #expect(slow.action == "slow", "\(actions)")
        #expect(!actions.contains { $0.action == "lost" })
        #expect(!Recovery.succeeded(actions))
        #expect(try f.inventory.vm(named: "s1").state == .running)
        // Once it answers again, recovery finds it running.
        let again = try await Recovery(orchestrator: f.orchestrator).run()
        #expect(again.contains(Recovery.Action(vm: "s1", host: "a", action: "verified", detail: "running")), "\(again)")
        #expect(Recovery.succeeded(again))
    }

    // MARK: - CLI

    @Test("the CLI: start, list, stop; moving a VM is the RC-TCB's (no ungated migrate)")
    func cli() async throws {
        let f = try Fixture()
        defer { f.cleanUp() }
        let started = try await f.cli(["vm", "start", "c1", "--host", "a", "--memory", "32", "--guest", "ticker", "--json"])
        #expect(started.status == 0, "\(started.stderr)")
        let list = try await f.cli(["vms"])
        #expect(list.stdout.contains("c1  a     running"), "\(list.stdout)")
        #expect(f.processes().count == 1)
        // `migrate` asks an RC-TCB (admin certificate from --dir); with none it fails with a coded error.
        let moved = try await SystemCommandRunner().run([try Env.cliBinary(), "migrate", "c1", "--to", "b", "--rctcb", "https://127.0.0.1:1", "--dir", f.dir])
        #expect(moved.status != 0)
        #expect(moved.stderr.hasPrefix("smig-attest: "), "\(moved.stderr)")
        #expect(try f.inventory.vm(named: "c1").host == "a")
        let resume = try await f.cli(["vm", "resume", "c1"])
        #expect(resume.status != 0, "the ungated `vm resume` is gone")
        let stopped = try await f.cli(["vm", "stop", "c1"])
        #expect(stopped.status == 0, "\(stopped.stderr)")
        #expect(f.processes().isEmpty)
    }
}

/// Collects progress records from a @Sendable callback.
final class ProgressLog: @unchecked Sendable {
    // @unchecked Sendable: every access goes through `lock`.
    private let lock = NSLock()
    private var items: [MigrationProgress] = []
    func add(_ p: MigrationProgress) { lock.lock(); items.append(p); lock.unlock() }
    var all: [MigrationProgress] { lock.lock(); defer { lock.unlock() }; return items }
}

/// Reads a pid file the way an operator would.
enum ProcessSupportProbe {
    static func pid(_ path: String) -> Int32? {
        (try? String(contentsOfFile: path, encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }
}
