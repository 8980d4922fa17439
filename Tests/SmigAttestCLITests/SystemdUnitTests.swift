import Foundation
import SmigTestSupport
import Testing

/// The systemd units in deploy/systemd, as shipped (and with each source drop-in of deploy/systemd/agent-sources):
/// `systemd-analyze verify` accepts them, `systemd-analyze security --offline=true` scores each 2.5 or lower, they
/// run unprivileged, and deploy/sysusers.d creates their users.
@Suite("Shipped systemd units")
struct SystemdUnitTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let units = "\(repository)/deploy/systemd"

    /// The unit (with `dropIn` appended, as systemd applies a drop-in) in a directory of its own, its ExecStart
    /// pointing at the binary under test (verify checks that the command exists).
    static func prepared(_ unit: String, dropIn: String?) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("smig-units-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var text = try String(contentsOfFile: "\(units)/\(unit)", encoding: .utf8)
            .replacingOccurrences(of: "/usr/local/bin/smig-attest", with: try TestBinaries.smigAttest())
        if let dropIn { text += "\n" + (try String(contentsOfFile: "\(units)/agent-sources/\(dropIn)", encoding: .utf8)) }
        let path = directory.appendingPathComponent(unit).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: [
        ("smig-attest-agent.service", nil), ("smig-attest-agent.service", "kernel-modules.conf"), ("smig-attest-agent.service", "xen.conf"),
        ("smig-attest-rctcb.service", nil),
    ] as [(String, String?)])
    func verifiesAndExposesLittle(unit: String, dropIn: String?) throws {
        let path = try Self.prepared(unit, dropIn: dropIn)
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
        let verify = try Run.tool("systemd-analyze", ["verify", path])
        #expect(verify.status == 0 && !verify.output.contains("ignoring") && !verify.output.contains("Unknown"), "\(verify.output)")
        let security = try Run.tool("systemd-analyze", ["security", "--offline=true", "--no-pager", path])
        let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(security.output)")
        let score = try #require(line.firstMatch(of: /: (\d+\.\d)/).flatMap { Double($0.1) }, "\(line)")
        #expect(score <= 2.5, "\(unit) \(dropIn ?? ""): \(line)\n\(security.output)")
    }

    @Test(arguments: ["smig-attest-agent.service", "smig-attest-rctcb.service"])
    func runsUnprivilegedAndFiltered(unit: String) throws {
        let lines = try String(contentsOfFile: "\(Self.units)/\(unit)", encoding: .utf8).split(separator: "\n").map(String.init)
        let user = try #require(lines.first { $0.hasPrefix("User=") })
        #expect(user != "User=root" && user != "User=", "\(unit): \(user)")
        for setting in ["SystemCallFilter=@system-service", "ProtectKernelModules=yes", "ProtectKernelLogs=yes", "ProtectClock=yes",
                        "ProtectHostname=yes", "RestrictSUIDSGID=yes", "RestrictRealtime=yes", "PrivateMounts=yes", "NoNewPrivileges=yes"] {
            #expect(lines.contains(setting), "\(unit) lacks \(setting)")
        }
    }

    @Test func sysusersCreatesTheServiceUsers() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("smig-sysusers-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("etc"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let r = try Run.tool("systemd-sysusers", ["--root=\(root.path)", "--dry-run", "\(Self.repository)/deploy/sysusers.d/smig-attest.conf"])
        #expect(r.status == 0, "\(r.output)")
        for user in ["smig-attest", "smig-attest-rctcb"] { #expect(r.output.contains("Creating user '\(user)'"), "\(r.output)") }
    }
}
