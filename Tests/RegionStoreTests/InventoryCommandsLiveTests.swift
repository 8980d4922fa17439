import Foundation
import Migration
import RegionLab
import RegionStorePostgres
import RegionTCB
import SmigTestSupport
import Testing

/// The operator's commands on a region whose RC-TCBs keep the VM inventory in PostgreSQL, run as the real binary:
/// `vm host add`, `vm host list` and `vms` with `--store URL --region FILE` reach the region's inventory, and only
/// that region's; `rctcb serve --store` refuses an inventory file.
@Suite("VM inventory commands on PostgreSQL", .serialized, .timeLimit(.minutes(30)))
struct InventoryCommandsLiveTests {
    @Test func theCommandsReachTheirRegionsInventoryOnly() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresCluster.with { cluster in
            try await PostgresRegion.with(cluster: cluster, hosts: 2, rctcbs: 1, region: "east") { east in
                try await PostgresRegion.with(cluster: cluster, hosts: 2, rctcbs: 1, region: "west") { west in
                    let state = "\(east.dir)/operator"
                    func vm(_ r: PostgresRegion, _ args: [String]) throws -> ToolRun {
                        try ToolRun.run(r.options.binary, args + ["--store", cluster.url, "--region", r.regionFile, "--state-dir", state])
                    }
                    let added = try vm(east, ["vm", "host", "add", "host-1", "--ports", "47100-47101", "--json"])
                    #expect(added.status == 0, "\(added.output)")
                    #expect(try await east.store.vmInventory(.operator).host(named: "host-1").ports == 47100...47101)
                    // Nothing was written to the state directory's inventory file.
                    #expect(!FileManager.default.fileExists(atPath: "\(state)/vms.sqlite"))

                    let eastHosts = try vm(east, ["vm", "host", "list", "--json"])
                    #expect(eastHosts.status == 0 && eastHosts.output.contains("47100"), "\(eastHosts.output)")
                    let westHosts = try vm(west, ["vm", "host", "list", "--json"])
                    #expect(westHosts.status == 0 && !westHosts.output.contains("host-1"), "\(westHosts.output)")

                    try await east.store.vmInventory(.operator).addVM(VMDescription(name: "vm-e", memoryMiB: 32, bootImage: "/x.img"),
                                                                      host: "host-1", state: .running)
                    let listed = try vm(east, ["vms", "--json"])
                    #expect(listed.status == 0 && listed.output.contains("\"vm-e\""), "\(listed.output)")
                    let other = try vm(west, ["vms", "--json"])
                    #expect(other.status == 0 && !other.output.contains("vm-e"), "\(other.output)")

                    let noRegion = try ToolRun.run(east.options.binary, ["vms", "--store", cluster.url, "--state-dir", state])
                    #expect(noRegion.status != 0 && noRegion.output.contains("--store needs --region"), "\(noRegion.output)")
                }
            }
        }
    }

    @Test func rctcbServeRefusesAnInventoryFileWithAStore() async throws {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        try await PostgresRegion.with(hosts: 2, rctcbs: 1) { r in
            let file = "\(r.dir)/vms.sqlite"
            let serve = try ToolRun.run(r.options.binary, ["rctcb", "serve", "--region", r.regionFile, "--dir", r.region.rctcbDir(0), "--store", r.cluster.url,
                                                   "--port", "0", "--inventory", file, "--json"])
            #expect(serve.status != 0 && serve.output.contains("store.inventory-file") && serve.output.contains("hint"), "\(serve.output)")
            #expect(!FileManager.default.fileExists(atPath: file))
            #expect(try await r.store.currentLease() == nil, "refused before it took part in the leadership")
        }
    }
}
