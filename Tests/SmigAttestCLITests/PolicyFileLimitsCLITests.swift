import Foundation
import Policy
import SmigTestSupport
import Testing

/// Every command that reads the region policy reads it through `PolicyDocument`: a file over its size limit or not
/// UTF-8 is refused with the file named, before anything is made — through the real binary.
@Suite("Region policy file limits through the CLI", .serialized)
struct PolicyFileLimitsCLITests {
    /// A scratch directory holding `region.yaml` with `bytes`.
    static func scratch(_ bytes: (String) throws -> Void) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("smig-policy-limits-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try bytes(root.appendingPathComponent("region.yaml").path)
        return root
    }

    /// A valid region policy with one byte that is not UTF-8 in a comment.
    static func writeNonUTF8(_ path: String) throws {
        let good = try EnrolmentCLITests.regionFile(at: path, hosts: ["host-a", "host-b"], firstPort: 9)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: good))
        bytes.append(contentsOf: Array("# caf".utf8) + [0xE9] + Array("\n".utf8))
        try bytes.write(to: URL(fileURLWithPath: path))
    }

    /// A file one byte over the limit (sparse: its length is what counts).
    static func writeOversized(_ path: String) throws {
        #expect(FileManager.default.createFile(atPath: path, contents: Data("kind: region\n".utf8)))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: UInt64(PolicyDocument.maximumFileSize + 1))
        try handle.close()
    }

    @Test(arguments: ["non-UTF-8", "oversized"])
    func rctcbInitRefusesTheFile(_ kind: String) throws {
        let root = try Self.scratch(kind == "oversized" ? Self.writeOversized : Self.writeNonUTF8)
        defer { try? FileManager.default.removeItem(at: root) }
        let region = root.appendingPathComponent("region.yaml").path, dir = root.appendingPathComponent("rctcb").path
        let r = try Run.smig(["rctcb", "init", "--region", region, "--dir", dir])
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("\(region):0:0"), "\(r.output)")
        #expect(r.output.contains(kind == "oversized" ? "a policy has at most \(PolicyDocument.maximumFileSize)" : "not UTF-8 text"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: dir), "nothing is made")
    }

    @Test func rctcbServeRefusesTheFile() throws {
        let r = try RegionFixture()
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(r.dir)/ivt.sqlite"))
        try Self.writeNonUTF8(r.region)
        let run = try Run.smig(["rctcb", "serve", "--region", r.region, "--dir", r.dir, "--port", "0"])
        #expect(run.status != 0, "\(run.output)")
        #expect(run.output.contains("\(r.region):0:0") && run.output.contains("not UTF-8 text"), "\(run.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: "\(r.dir)/ivt.sqlite")) == before)
    }
}
