import Foundation
import Logging
import Migration
import RegionProtocol

extension Evacuator {
    /// Takes into the inventory the VMs that the agents of trusted `migrations: agent` hosts report (`GET /v1/vms`) and the
    /// inventory does not know yet, running or paused, on the host that reports them: a fleet's VMs become known from
    /// what their hosts' VM managers say, not because smig-attest started them. A VM whose name the inventory knows
    /// already (on any host, in any state) is left as recorded; a name the inventory cannot hold (over 40 characters,
    /// or other than A-Z a-z 0-9 - _) is logged and skipped. The host's room for VMs that the report gives is kept for
    /// placement (``reportedCapacity``). Returns the names adopted.
    @discardableResult
    /// `trusted`: the hosts trusted now, as the sweep read the IVT.
    package func adoptReportedVMs(trusted: Set<String>) async -> [String] {
        guard let driver = orchestrator.agent as? AgentOrderDriver else { return [] }
        let inventory = orchestrator.inventory
        guard let known = try? await Set(inventory.vms().map(\.name)) else { return [] }
        var adopted: [String] = []
        for host in driver.agents.keys.sorted() {
            // A report is only as good as its host: a host not trusted now could claim names other hosts' VMs will
            // report, so what it says is not taken until it is trusted again.
            guard trusted.contains(host) else { continue }
            guard let report = try? await driver.report(host) else { continue }
            recordReportedCapacity(report.capacity, of: host)
            for vm in report.vms where !known.contains(vm.name) {
                let state = AgentOrderDriver.runState(vm.state)
                guard state == .running || state == .paused else { continue }
                let description = VMDescription(name: vm.name, machineType: report.vmManager, memoryMiB: vm.memoryMiB, cpus: vm.vcpus, bootImage: "/")
                do {
                    try description.validate()
                    try await inventory.addVM(description, host: host, state: state == .running ? .running : .paused)
                } catch {
                    logger.warning("a reported VM is not adopted", metadata: ["attest.host": "\(host)", "attest.vm": "\(vm.name)", "attest.reason": "\(error)"])
                    continue
                }
                try? await store.audit(host: host, kind: "vm.adopted", code: nil,
                                 detail: "\(vm.name) (\(vm.uuid?.uuidString.lowercased() ?? "no UUID")): \(vm.vcpus) vCPU(s), \(vm.memoryMiB) MiB, \(vm.state), reported by its \(report.vmManager)",
                                 evacuation: EvacuationFields(vm: vm.name, target: host), now: Date())
                adopted.append(vm.name)
            }
        }
        if !adopted.isEmpty { await refreshPlacement() }
        return adopted
    }
}
