import Agent
import Foundation
import Migration
import RegionProtocol
import Testing

/// The agent's QEMU VM manager without a QEMU: what it takes from agent.json and from orders before it launches or
/// migrates anything.
@Suite("The agent's QEMU VM manager, before QEMU runs")
struct QEMUVMManagerTests {
    @Test func theMigrationAddressIsTCPWithANumericAddressAndAPortRange() {
        #expect(QEMUVMManager.Incoming.parse("tcp:10.0.0.12:47000-47099") == .init(address: "10.0.0.12", ports: 47000...47099))
        #expect(QEMUVMManager.Incoming.parse("tcp:127.0.0.1:47000-47000") == .init(address: "127.0.0.1", ports: 47000...47000))
        for bad in ["qemu+tls://10.0.0.12/system", "tcp:10.0.0.12:47000", "tcp:host-b:47000-47099", "tcp:10.0.0.12:80-90",
                    "tcp:10.0.0.12:47099-47000", "tcp:10.0.0.256:47000-47099", "unix:/run/x:1-2", "tcp:10.0.0.12:47000-70000", ""] {
            #expect(QEMUVMManager.Incoming.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func onlyATCPDestinationIsPassedToQEMU() {
        #expect(QEMUVMManager.destination("tcp:10.0.0.12:47001") == "tcp:10.0.0.12:47001")
        // QEMU would run `exec:` as a shell command on the source host.
        for bad in ["exec:cat /etc/shadow", "unix:/tmp/sock", "tcp:10.0.0.12:0", "tcp:10.0.0.12:70000", "tcp:b.example:47001",
                    "tcp:10.0.0.12:47001:1", "qemu+tcp://10.0.0.12/system", "tcp:10.0.0.12:+47001"] {
            #expect(QEMUVMManager.destination(bad) == nil, "\(bad)")
        }
    }

    static func directory() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-qvm-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: "\(dir)/images", withIntermediateDirectories: true)
        return dir
    }

    static func manager(_ dir: String) -> QEMUVMManager {
        QEMUVMManager(directory: "\(dir)/vms", imageDirectory: "\(dir)/images", incoming: .init(address: "127.0.0.1", ports: 47000...47009))
    }

    @Test func aBootImageOutsideTheImageDirectoryIsRefusedWhateverTheLinks() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = Self.manager(dir)
        try Data(repeating: 0, count: 512).write(to: URL(fileURLWithPath: "\(dir)/images/guest.img"))
        try Data("secret".utf8).write(to: URL(fileURLWithPath: "\(dir)/secret"))
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/images/link.img", withDestinationPath: "\(dir)/secret")
        try FileManager.default.createDirectory(atPath: "\(dir)/images/sub.img", withIntermediateDirectories: true)
        #expect(try m.image("\(dir)/images/guest.img").hasSuffix("/images/guest.img"))
        for bad in ["\(dir)/secret", "\(dir)/images/link.img", "\(dir)/images/../secret", "\(dir)/images/missing.img", "\(dir)/images/sub.img",
                    "\(dir)/images-not/guest.img"] {
            let error = #expect(throws: MigrationOrderError.self, "\(bad)") { try m.image(bad) }
            #expect(error?.code == .failed, "\(bad)")
        }
    }

    @Test func preparingWithoutTheMachineOrMigratingToAnythingButTCPLaunchesNothing() async throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let m = Self.manager(dir)
        let unsaid = await #expect(throws: MigrationOrderError.self) { try await m.prepareIncoming("web-1", machine: nil) }
        #expect(unsaid?.code == .failed && unsaid?.message.contains("machine") == true, "\(String(describing: unsaid))")
        // The order path calls the same with the order's machine: a libvirt-style prepare order reaches it as nil.
        let plain = await #expect(throws: MigrationOrderError.self) { try await m.prepareIncoming("web-1") }
        #expect(plain?.code == .failed)
        let elsewhere = await #expect(throws: MigrationOrderError.self) {
            try await m.prepareIncoming("web-1", machine: VMMachine(machineType: "pc", memoryMiB: 32, vcpus: 1, bootImage: "/etc/passwd"))
        }
        #expect(elsewhere?.code == .failed && elsewhere?.message.contains("image directory") == true, "\(String(describing: elsewhere))")
        let exec = await #expect(throws: MigrationOrderError.self) {
            try await m.migrate("web-1", to: "exec:touch \(dir)/pwned", tuning: nil) { _ in }
        }
        #expect(exec?.code == .failed)
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/vms"), "nothing was launched")
        #expect(try await m.vms().isEmpty)
        // Idempotent steps on a VM that is not here: stop and cancel do nothing, resume and pause say so.
        try await m.stop("web-1")
        try await m.cancel("web-1")
        let absent = await #expect(throws: MigrationOrderError.self) { try await m.resume("web-1") }
        #expect(absent?.code == .failed)
    }

    @Test func theOrdersTuningBecomesQEMUsParametersWithoutParallelConnections() {
        let t = QEMUVMManager.tuning(.init(maxBandwidthMiBps: 10_240, downtimeLimitMs: 50, autoConverge: true, parallelConnections: 4))
        #expect(t == MigrationTuning(maxBandwidthBytesPerSecond: 10 << 30, downtimeLimitMs: 50, multifdChannels: 0, autoConverge: true))
        #expect(QEMUVMManager.tuning(nil) == .qemuDefaults)
    }

    @Test func agentJSONNamesTheQEMUManager() throws {
        var config = AgentConfig(hostId: "host-a", rctcb: "https://127.0.0.1:8443", stateDirectory: "/var/lib/smig-attest", vmManager: "qemu",
                                 vmManagerURI: "/var/lib/smig-attest/vms", migrationAddress: "tcp:10.0.0.12:47000-47099",
                                 vmImageDirectory: "/var/lib/smig-attest/images")
        let manager = try #require(try config.hostVMManager() as? QEMUVMManager)
        #expect(manager.kind == "qemu" && manager.directory == "/var/lib/smig-attest/vms" && manager.imageDirectory == "/var/lib/smig-attest/images")
        #expect(manager.incoming == .init(address: "10.0.0.12", ports: 47000...47099))
        config.migrationAddress = "qemu+tls://10.0.0.12/system"
        let error = #expect(throws: AgentEnrolment.Failure.self) { try config.hostVMManager() }
        #expect(error?.code == "agent.config-bad-value" && error?.message.contains("tcp:ADDRESS:LOW-HIGH") == true, "\(String(describing: error))")
    }
}
