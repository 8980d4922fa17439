import Foundation
import Migration
import Synchronization
import Testing

/// Records every command and answers from a script.
final class RecordingRunner: CommandRunner {
    let calls = Mutex<[[String]]>([])
    let answer: @Sendable ([String]) -> CommandOutput

    init(answer: @escaping @Sendable ([String]) -> CommandOutput = { _ in CommandOutput(status: 0) }) {
        self.answer = answer
    }

    func run(_ argv: [String]) async throws -> CommandOutput {
        calls.withLock { $0.append(argv) }
        return answer(argv)
    }
}

@Suite("Xen xl driver")
struct XenXLDriverTests {
    static let list = """
        Name                                        ID   Mem VCPUs\tState\tTime(s)
        Domain-0                                     0  1024     2     r-----     123.4
        guest-1                                      3   512     1     -b----      10.2
        paused_vm                                   12    64     1     --p---       0.0

        """

    func dom0Caps() throws -> String {
        let path = "/tmp/smx-caps-\(UUID().uuidString.prefix(8))"
        try "control_d\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("xl list is parsed field by field")
    func parseList() throws {
        let domains = try XenXLDriver.parseList(Self.list)
        #expect(domains.count == 3)
        #expect(domains[1] == XenXLDriver.Domain(name: "guest-1", id: 3, memoryMiB: 512, vcpus: 1, state: "-b----", cpuSeconds: 10.2))
        #expect(domains[2].state == "--p---")
    }

    @Test("malformed xl list output is an xl-failed error", arguments: [
        "",
        "garbage\n",
        "Name ID Mem VCPUs State Time(s)\nguest 3 512 1\n",
        "Name ID Mem VCPUs State Time(s)\nguest x 512 1 -b---- 1.0\n",
        "Name ID Mem VCPUs State Time(s)\nguest 3 512 1 -b--- 1.0\n",
        "Name ID Mem VCPUs State Time(s)\nguest 3 512 1 -b---- nan\n",
        "Name ID Mem VCPUs State Time(s)\nguest 99999999999999999999999 512 1 -b---- 1.0\n",
    ])
    func malformed(_ text: String) {
        let error = #expect(throws: MigrationError.self) { try XenXLDriver.parseList(text) }
        #expect(error?.code == .xlFailed)
    }

    @Test("exact argument vectors")
    func argumentVectors() {
        let d = XenXLDriver(transport: "ssh -o BatchMode=yes")
        #expect(d.migrateArguments(domain: "vm1", targetAddress: "10.0.0.2")
                == ["xl", "migrate", "-s", "ssh -o BatchMode=yes", "-p", "vm1", "10.0.0.2"])
        #expect(d.listArguments() == ["xl", "list"])
        #expect(d.listArguments(domain: "vm1") == ["xl", "list", "vm1"])
        #expect(d.remoteArguments(address: "10.0.0.2", ["unpause", "vm1"])
                == ["/bin/sh", "-c", "ssh -o BatchMode=yes \"$1\" xl \"$2\" \"$3\"", "smig-xl", "10.0.0.2", "unpause", "vm1"])
        #expect(d.createArguments(configPath: "/var/lib/x/vm1.xl.cfg") == ["xl", "create", "/var/lib/x/vm1.xl.cfg"])
    }

    @Test("remote arguments keep values out of the shell script")
    func remoteQuoting() async throws {
        // The values are passed as positional parameters: a hostile value is not executed.
        let d = XenXLDriver(xl: "echo", transport: "printf '%s|'")
        let out = try await SystemCommandRunner().run(d.remoteArguments(address: "1.2.3.4;touch /tmp/smx-pwned", ["list", "$(id)"]))
        #expect(out.status == 0)
        #expect(out.stdout == "1.2.3.4;touch /tmp/smx-pwned|echo|list|$(id)|")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/smx-pwned"))
    }

    @Test("migrate runs xl migrate -s TRANSPORT -p, then resume unpauses on the target")
    func migrateFlow() async throws {
        let caps = try dom0Caps()
        defer { try? FileManager.default.removeItem(atPath: caps) }
        let runner = RecordingRunner()
        let d = XenXLDriver(transport: "/usr/lib/smig/xl-transport", runner: runner, capabilitiesPath: caps)
        let src = MigrationHost(name: "x1", kind: .xen, address: "10.0.0.1", portLow: 48000, portHigh: 48010, stateDirectory: "/tmp/smx1")
        let dst = MigrationHost(name: "x2", kind: .xen, address: "10.0.0.2", portLow: 48000, portHigh: 48010, stateDirectory: "/tmp/smx2")
        let vm = VMDescription(name: "vm1", memoryMiB: 512, bootImage: "/srv/vm1.img")
        let target = try await d.prepareTarget(vm, on: dst, port: 48000)
        var statuses: [String] = []
        for try await p in d.migrate(vm, from: d.instance(of: "vm1", on: src, port: nil), to: target) { statuses.append(p.status) }
        try await d.resume(target)
        #expect(statuses == ["active", "completed"])
        #expect(runner.calls.withLock { $0 } == [
            ["xl", "migrate", "-s", "/usr/lib/smig/xl-transport", "-p", "vm1", "10.0.0.2"],
            ["/bin/sh", "-c", "/usr/lib/smig/xl-transport \"$1\" xl \"$2\" \"$3\"", "smig-xl", "10.0.0.2", "unpause", "vm1"],
        ])
    }

    @Test("a failing xl migrate names the source side and xl's last line")
    func migrateFails() async throws {
        let caps = try dom0Caps()
        defer { try? FileManager.default.removeItem(atPath: caps) }
        let runner = RecordingRunner { _ in CommandOutput(status: 1, stderr: "migration sender: Target reported an error\n") }
        let d = XenXLDriver(runner: runner, capabilitiesPath: caps)
        let h = MigrationHost(name: "x1", kind: .xen, address: "10.0.0.1", portLow: 48000, portHigh: 48010, stateDirectory: "/tmp/smx1")
        let vm = VMDescription(name: "vm1", memoryMiB: 512, bootImage: "/srv/vm1.img")
        let error = await #expect(throws: MigrationError.self) {
            for try await _ in d.migrate(vm, from: d.instance(of: "vm1", on: h, port: nil), to: d.instance(of: "vm1", on: h, port: 1)) {}
        }
        #expect(error?.code == .xlFailed)
        #expect(error?.side == .source)
        #expect(error?.reason.contains("Target reported an error") == true)
    }

    @Test("not a dom0: one clear line, and xl is never run")
    func notDom0() async throws {
        let runner = RecordingRunner()
        let d = XenXLDriver(runner: runner, capabilitiesPath: "/nonexistent/xen/capabilities")
        let h = MigrationHost(name: "x1", kind: .xen, address: "10.0.0.1", portLow: 48000, portHigh: 48010, stateDirectory: "/tmp/smx1")
        let vm = VMDescription(name: "vm1", memoryMiB: 512, bootImage: "/srv/vm1.img")
        let error = await #expect(throws: MigrationError.self) {
            for try await _ in d.migrate(vm, from: d.instance(of: "vm1", on: h, port: nil), to: d.instance(of: "vm1", on: h, port: 1)) {}
        }
        #expect(error?.code == .xenUnavailable)
        #expect(error.map { !"\($0)".contains("\n") } == true)
        #expect(error.map { "\($0)".contains("not a Xen dom0") } == true)
        let listError = await #expect(throws: MigrationError.self) { try await d.listVMs(on: h) }
        #expect(listError?.code == .xenUnavailable)
        #expect(await d.state(of: d.instance(of: "vm1", on: h, port: nil)) == .absent)
        #expect(runner.calls.withLock { $0 }.isEmpty)
    }
}
