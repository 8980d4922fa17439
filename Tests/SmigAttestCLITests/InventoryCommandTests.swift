import Foundation
import SmigTestSupport
import Testing

/// The inventory commands as an operator uses them, through the real binary: a mistyped `--state-dir` is an
/// error (not an empty listing), hosts can be removed only when nothing runs on them, and a VM with an open
/// migration points at recovery.
@Suite("Inventory commands")
struct InventoryCommandTests {
    static func freshDir() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("smig-invcmd-\(UUID().uuidString)").path
    }

    @Test(arguments: [["vms"], ["vm", "host", "list"], ["vm", "host", "remove", "a"], ["vm", "stop", "vm1"]])
    func stateDirWithoutInventoryIsAnInputError(_ command: [String]) throws {
        let dir = Self.freshDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Run.smig(command + ["--state-dir", dir])
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("no-inventory"), "\(r.output)")
        #expect(r.output.contains("\(dir)/vms.sqlite"), "\(r.output)")
        #expect(r.output.contains("vm host add"), "the hint names the command that creates one: \(r.output)")
        #expect(!FileManager.default.fileExists(atPath: dir), "a read must not create the state directory")
    }

    @Test func stateDirFromTheEnvironmentIsCheckedTheSameWay() throws {
        let dir = Self.freshDir()
        let r = try Run.smig(["vms"], env: ["SMIG_STATE_DIR": dir])
        #expect(r.status == 2, "\(r.output)")
        #expect(r.output.contains("no-inventory") && r.output.contains(dir), "\(r.output)")
    }

    @Test func hostWithoutVMsIsRemovedAndTheOthersStay() throws {
        let dir = Self.freshDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Run.smig(["vm", "host", "add", "a", "--ports", "47000-47099", "--state-dir", dir]).status == 0)
        #expect(try Run.smig(["vm", "host", "add", "b", "--ports", "47100-47199", "--state-dir", dir]).status == 0)

        let removed = try Run.smig(["vm", "host", "remove", "b", "--state-dir", dir, "--json"])
        #expect(removed.status == 0, "\(removed.output)")
        #expect(try removed.json()["removed"] as? String == "b")

        let list = try Run.smig(["vm", "host", "list", "--state-dir", dir, "--json"])
        let hosts = try JSONSerialization.jsonObject(with: Data(list.output.utf8)) as? [[String: Any]]
        #expect(hosts?.compactMap { $0["name"] as? String } == ["a"], "\(list.output)")

        // Its ports are free again: a new host may take them.
        #expect(try Run.smig(["vm", "host", "add", "c", "--ports", "47100-47199", "--state-dir", dir]).status == 0)

        let unknown = try Run.smig(["vm", "host", "remove", "b", "--state-dir", dir])
        #expect(unknown.status == 1, "\(unknown.output)")
        #expect(unknown.output.contains("unknown-host"), "\(unknown.output)")
    }

    @Test func hostWithAVMIsNotRemoved() throws {
        let dir = Self.freshDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try Run.smig(["vm", "host", "add", "a", "--ports", "47000-47099", "--state-dir", dir]).status == 0)
        let description = #"{"name":"vm1","machineType":"pc","memoryMiB":64,"cpus":1,"bootImage":"/nonexistent.img"}"#
        try TamperedInventoryTests.sqlite(dir + "/vms.sqlite",
            "INSERT INTO vm (name, description, host, state, updated_at) VALUES ('vm1', '\(description)', 'a', 'running', 1700000000.5)")
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/vms.sqlite"))

        let r = try Run.smig(["vm", "host", "remove", "a", "--state-dir", dir])
        #expect(r.status == 1, "\(r.output)")
        #expect(r.output.contains("wrong-state") && r.output.contains("vm1"), "\(r.output)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/vms.sqlite")) == before, "nothing changed")
        let list = try Run.smig(["vm", "host", "list", "--state-dir", dir])
        #expect(list.status == 0 && list.output.contains("47000-47099"), "\(list.output)")
    }

    @Test func vmWithAnOpenMigrationPointsAtRecovery() throws {
        let (dir, _) = try TamperedInventoryTests.inventory()   // vm1 on a, with an open migration a -> a
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stop = try Run.smig(["vm", "stop", "vm1", "--state-dir", dir])
        #expect(stop.status == 1, "\(stop.output)")
        #expect(stop.output.contains("open migration") && stop.output.contains("vms --recover"), "\(stop.output)")

        let remove = try Run.smig(["vm", "host", "remove", "a", "--state-dir", dir])
        #expect(remove.status == 1, "\(remove.output)")
        #expect(remove.output.contains("vm1"), "\(remove.output)")
    }
}
