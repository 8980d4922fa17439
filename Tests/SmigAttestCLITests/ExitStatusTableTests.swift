import Foundation
import SmigTestSupport
import Testing

/// One table for every command's exit status and error format, through the real binary: 0 ok, 1 refused or
/// failed, 2 usage or input error, 4 untrusted (3, rebooted, is shown by the interop tests' reboot case). Every
/// error is one `smig-attest: CODE: message` line (a policy file's, `FILE:LINE:COLUMN: error: message`), and
/// with --json one JSON object with that code.
@Suite("Exit status and error format")
struct ExitStatusTableTests {
    struct Row: CustomStringConvertible, Sendable {
        var args: [String]
        var status: Int32
        var code: String?
        var description: String { args.joined(separator: " ") }
    }

    static let dir = FileManager.default.temporaryDirectory.appendingPathComponent("smig-exit-\(UUID().uuidString.prefix(8))").path

    /// A file measured, a golden file that allows another digest, one that allows it, and garbage to parse.
    static func files() throws -> (measured: String, wrongGolden: String, rightGolden: String, garbage: String) {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let measured = "\(dir)/hypervisor.bin"
        try Data("the hypervisor".utf8).write(to: URL(fileURLWithPath: measured))
        let wrong = "\(dir)/wrong.yaml"
        try Data("kind: golden-values\nversion: 1\nname: wrong\nmeasurements:\n  file:\(measured):\n    sha256: [\(String(repeating: "ab", count: 32))]\n".utf8)
            .write(to: URL(fileURLWithPath: wrong))
        let right = "\(dir)/right.yaml"
        let captured = try Run.smig(["golden", "capture", "--source", "file:\(measured)"])
        try Data(captured.output.utf8).write(to: URL(fileURLWithPath: right))
        let garbage = "\(dir)/garbage.json"
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: garbage))
        return (measured, wrong, right, garbage)
    }

    static func rows() throws -> [Row] {
        let f = try files()
        let nonce = "00112233445566778899aabbccddeeff"
        return [
            Row(args: ["--version"], status: 0),
            Row(args: ["measure", "--source", "file:\(f.measured)", "--golden", f.rightGolden], status: 0),
            Row(args: ["measure", "--source", "file:\(f.measured)", "--golden", f.wrongGolden], status: 4),
            Row(args: ["policy", "check", f.rightGolden], status: 0),
            Row(args: ["quote", "--no-such-option"], status: 2, code: "usage.invalid"),
            Row(args: ["pcr", "read", "sha256:24", "--tcti", "swtpm:host=127.0.0.1,port=1"], status: 2, code: "usage.invalid"),
            Row(args: ["measure", "--source", "fiel:/x"], status: 2),
            Row(args: ["policy", "check", "\(dir)/missing.yaml"], status: 2),
            Row(args: ["verify", "--nonce", nonce, "--ak-public", "\(dir)/missing.pub", "\(f.garbage)"], status: 2),
            Row(args: ["quote", "--tcti", "swtpm:host=127.0.0.1,port=1", "--state-dir", dir, "--nonce", nonce], status: 1, code: "tpm.tcti-unavailable"),
            Row(args: ["vms", "--state-dir", "\(dir)/no-such-state"], status: 2),
            Row(args: ["vm", "host", "add", "a", "--ports", "47000-47099", "--state-dir", "\(dir)/inventory"], status: 0),
            Row(args: ["vm", "host", "add", "b", "--ports", "47000-47099", "--state-dir", "\(dir)/inventory"], status: 1),
            Row(args: ["vm", "host", "add", "c", "--ports", "47100-47199", "--kind", "kvm", "--state-dir", "\(dir)/inventory"], status: 2, code: "usage.invalid"),
            Row(args: ["vm", "host", "remove", "zz", "--state-dir", "\(dir)/inventory"], status: 1),
            Row(args: ["vm", "host", "remove", "a", "--state-dir", "\(dir)/inventory"], status: 0),
        ]
    }

    @Test func everyRowHasItsStatusAndOneErrorLine() throws {
        for row in try Self.rows() {
            let r = try Run.smig(row.args)
            #expect(r.status == row.status, "\(row): \(r.status) \(r.output)")
            if row.status == 1 || row.status == 2 {
                // Policy files are diagnosed compiler-style instead: FILE:LINE:COLUMN: error: message (hint: …).
                let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("smig-attest: ") || ($0.hasPrefix("/") && $0.contains(".yaml:") && $0.contains(": error: ")) }
                #expect(errors.count == 1, "\(row): \(r.output)")
                if let code = row.code { #expect(errors.first?.hasPrefix("smig-attest: \(code): ") == true, "\(row): \(r.output)") }
                #expect(!r.output.contains("NSCocoaErrorDomain") && !r.output.contains("Error: "), "\(row): \(r.output)")
            }
        }
    }

    @Test func underJSONErrorsAreJSON() throws {
        for row in try Self.rows() where row.code != nil {
            let r = try Run.smig(row.args + ["--json"])
            #expect(r.status == row.status, "\(row): \(r.output)")
            let error = try r.jsonError()
            #expect(error["code"] == row.code, "\(row): \(r.output)")
            #expect(error["message"]?.isEmpty == false)
        }
    }

    @Test func aHintIsItsOwnField() throws {
        let r = try Run.smig(["quote", "--tcti", "swtpm:host=127.0.0.1,port=1", "--state-dir", Self.dir, "--nonce", "00112233445566778899aabbccddeeff", "--json"])
        let error = try r.jsonError()
        #expect(error["hint"]?.hasPrefix("is swtpm running at 127.0.0.1:1?") == true, "\(r.output)")
        #expect(error["message"]?.contains("(hint:") == false, "\(r.output)")
    }
}
