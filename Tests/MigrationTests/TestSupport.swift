#if canImport(Glibc)
import Glibc
import BuiltInGuests
#endif
import Foundation
import Swtpm
import Migration
import SmigTestSupport
import Synchronization
import Testing

/// What the environment offers; under `CI=true` a missing tool is a failure, not a skip.
enum Env {
    static let isCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let qemu = ProcessInfo.processInfo.environment["SMIG_QEMU"] ?? "qemu-system-x86_64"
    static let hasQEMU = which(qemu) != nil

    static func which(_ name: String) -> String? { Executables.which(name) }

    /// The `smig-attest` executable built beside this test bundle (or `$SMIG_ATTEST_BIN`).
    static func cliBinary() throws -> String { try TestBinaries.smigAttest() }
}

/// Hands out disjoint port ranges so tests running side by side never collide.
enum PortBlocks {
    private static let next = Mutex(0)
    /// 20 ports: 10 for host a, 10 for host b.
    static func take() -> Int {
        let pid = Int(getpid()) % 50
        let block = next.withLock { n in
            n += 1
            return n
        }
        // Below the kernel's ephemeral range (32768-60999), where OS-chosen ports and outgoing connections live.
        return 20000 + (pid * 200 + block * 20) % 12000
    }
}

/// A temporary state directory with an inventory and two loopback hosts `a` and `b`.
/// `cleanUp()` SIGKILLs every process whose command line mentions the directory.
final class Fixture: Sendable {
    let dir: String
    let inventory: VMInventory
    let a: MigrationHost
    let b: MigrationHost
    let image: String
    let driver: QEMUDriver
    let orchestrator: MigrationOrchestrator

    init(qmpTimeout: Duration = .seconds(30)) throws {  // generous: the whole suite shares two cores
        // Short path: QMP socket paths must stay under 108 bytes.
        let template = "/tmp/smt-XXXXXX"
        var bytes = Array(template.utf8CString)
        guard let made = mkdtemp(&bytes) else { throw MigrationError(.io, "mkdtemp failed") }
        dir = String(cString: made)
        let base = PortBlocks.take()
        a = MigrationHost(name: "a", address: "127.0.0.1", portLow: base, portHigh: base + 9, stateDirectory: "\(dir)/a")
        b = MigrationHost(name: "b", address: "127.0.0.1", portLow: base + 10, portHigh: base + 19, stateDirectory: "\(dir)/b")
        inventory = try VMInventory(stateDirectory: dir)
        try inventory.addHost(a)
        try inventory.addHost(b)
        image = try TestGuest.writeImage(to: "\(dir)/guest.img")
        driver = QEMUDriver(configuration: .init(qemuBinary: Env.qemu, qmpTimeout: qmpTimeout))
        orchestrator = MigrationOrchestrator(inventory: inventory, qemu: driver)
    }

    func vm(_ name: String, memoryMiB: Int = 32) -> VMDescription {
        VMDescription(name: name, memoryMiB: memoryMiB, bootImage: image)
    }

    /// Live (non-zombie) processes whose command line mentions this fixture's directory.
    func processes() -> [Int32] {
        Fixture.processes(mentioning: dir)
    }

    static func processes(mentioning needle: String) -> [Int32] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var found: [Int32] = []
        for e in entries {
            guard let pid = Int32(e), pid != getpid() else { continue }
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { continue }
            let cmd = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            guard cmd.contains(needle) else { continue }
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let close = stat.lastIndex(of: ")"),
               stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") { continue }
            found.append(pid)
        }
        return found.sorted()
    }

    func cleanUp() {
        for pid in processes() { kill(pid, SIGKILL) }
        for _ in 0..<100 where !processes().isEmpty { usleep(20_000) }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// The instance of `vm` on `host` (where its pid file and QMP socket live).
    func instance(_ vm: String, on host: MigrationHost) -> VMInstance {
        driver.instance(of: vm, on: host, port: nil)
    }

    func counter(_ vm: String, on host: MigrationHost) async throws -> UInt32 {
        try await driver.readGuestWord(instance(vm, on: host), physicalAddress: TestGuest.counterAddress)
    }

    /// Waits (bounded) until the counter of `vm` on `host` moves past `value`.
    func counterGrows(_ vm: String, on host: MigrationHost, beyond value: UInt32, within: Duration = .seconds(20)) async throws -> UInt32 {
        let deadline = ContinuousClock.now + within
        while true {
            let now = try await counter(vm, on: host)
            if now > value || ContinuousClock.now > deadline { return now }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Runs the CLI with `--state-dir` set to this fixture; returns exit status and output.
    /// One orchestrated migration in a child process that SIGKILLs itself after `step` (the test tool beside
    /// smig-attest).
    func crashingMigration(_ vm: String, to target: String, after step: MigrationStep) async throws -> Int32 {
        let tool = URL(fileURLWithPath: try Env.cliBinary()).deletingLastPathComponent().appendingPathComponent("smig-migration-crash").path
        return try await SystemCommandRunner(timeout: .seconds(120)).run([tool, dir, vm, target, step.rawValue]).status
    }

    func cli(_ args: [String], timeout: Duration = .seconds(120)) async throws -> (status: Int32, stdout: String, stderr: String) {
        let bin = try Env.cliBinary()
        let out = try await SystemCommandRunner(timeout: timeout).run([bin] + args + ["--state-dir", dir])
        return (out.status, out.stdout, out.stderr)
    }
}
