import Foundation
import NamespaceLab
import Migration
import RegionLab
import RegionTCB
import SmigTestSupport
import Testing

/// `evacuation.executor`: the fleet's own orchestrator moves the VMs, the RC-TCB only decides when and where to. Here the
/// executor is a real script that moves the libvirt domain with `virsh migrate` between the lab's two libvirt hosts, as
/// a manager such as Nova or oVirt would with its own tools.
@Suite("Evacuation handed off to an executor, on two libvirt hosts", .serialized)
struct ExecutorHandOffLiveTests {
    /// The executor: `executor.sh HOSTS-FILE RECORD-FILE VM SOURCE TARGET`. It writes its argv and SMIG_* variables to
    /// RECORD-FILE, fails the first time it runs (as a manager with no room yet would), then looks up the source's
    /// libvirt URI and the target's migration URI in HOSTS-FILE (`ID LOCAL-URI TCP-URI` per line) and moves the domain
    /// live, peer to peer, with `virsh migrate`.
    static let script = """
        #!/bin/bash
        set -euo pipefail
        hosts=$1 record=$2 vm=$3 source=$4 target=$5
        { printf 'argv:'; printf ' %s' "$@"; printf '\\n'; env | grep '^SMIG_' | sort; } > "$record"
        if [ ! -e "$record.failed-once" ]; then touch "$record.failed-once"; echo "no valid host was found" >&2; exit 3; fi
        from=$(awk -v h="$source" '$1 == h { print $2 }' "$hosts")
        to=$(awk -v h="$target" '$1 == h { print $3 }' "$hosts")
        exec /usr/bin/virsh -c "$from" migrate --live --p2p --persistent --undefinesource "$vm" "$to"
        """

    @Test func anAdoptedDomainIsMovedByTheExecutorOnlyAfterTheTargetWasChallenged() async throws {
        try await LibvirtLab.run { lab in
            let vm = "handed-1"
            try await lab.defineCountingGuest(vm, on: lab.a)
            let work = lab.directory.appendingPathComponent("executor")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            let executor = work.appendingPathComponent("executor.sh").path
            try Self.script.write(toFile: executor, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: executor)
            let hostsFile = work.appendingPathComponent("hosts").path
            try "host-1 \(lab.a.localURI) \(lab.a.tcpURI)\nhost-2 \(lab.b.localURI) \(lab.b.tcpURI)\n".write(toFile: hostsFile, atomically: true, encoding: .utf8)
            let record = work.appendingPathComponent("record").path

            let r = try await LoopbackRegion.live(hosts: 2, policyExtra: "evacuation: {no-target: keep-running, executor: {command: [\(executor), \(hostsFile), \(record)], timeout: 2m}}\n",
                                   hostKeys: { _, _ in ", migrations: agent" }, agentKeys: { i in
                let host = i == 0 ? lab.a : lab.b
                return ["vmManager": "libvirt", "vmManagerURI": host.localURI, "migrationAddress": host.tcpURI]
            })
            try await r.wait("all trusted") { rows in rows.count == 2 && rows.allSatisfy { $0.state == .trusted } }
            let inventory = try VMInventory(path: "\(r.rctcbDir)/vms.sqlite")
            try await waitUntilAsync("the RC-TCB adopts what host-1 reports", seconds: 120) { (try? inventory.vm(named: vm))?.host == "host-1" }
            try await waitUntilAsync("the guest counts on A", seconds: 120) { lab.ticks(of: vm).latest >= 2 }
            let before = lab.ticks(of: vm).latest

            try Data("evil hypervisor".utf8).write(to: URL(fileURLWithPath: r.hosts[0].hypervisorFile ?? ""))
            try await r.wait("host-1 evacuated", seconds: 240) { rows in rows.first { $0.host == "host-1" }?.state == .evacuated }

            // The VM is where host-2's agent reports it, running, one copy.
            #expect(try inventory.vm(named: vm).host == "host-2" && inventory.vm(named: vm).state == .running)
            #expect(try await AgentOrderLiveTests.domains(lab, lab.b) == [vm: "running"])
            #expect(try await AgentOrderLiveTests.domains(lab, lab.a).isEmpty)

            // The executor got the VM, the source and the challenged target, in argv and in its environment.
            let recorded = try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map(String.init)
            #expect(recorded.first == "argv: \(hostsFile) \(record) \(vm) host-1 host-2", "\(recorded)")
            for line in ["SMIG_VM=\(vm)", "SMIG_SOURCE=host-1", "SMIG_TARGET=host-2", "SMIG_SOURCE_ADDRESS=127.0.0.1",
                         "SMIG_TARGET_ADDRESS=127.0.0.1", "SMIG_REGION=live-test", "SMIG_CAUSE=golden.digest-not-allowed"] {
                #expect(recorded.contains(line), "\(line) in \(recorded)")
            }

            // The audit trail: challenge, executor started, its exit status, the new host — and no re-attestation gate.
            let events = try r.store().events(since: 0, limit: 10_000).filter { $0.evacuation?.vm == vm && $0.evacuationStep != nil }
            let kinds = events.map(\.kind)
            let order = ["evacuation.target-challenged", "evacuation.executor-started", "evacuation.executor", "evacuation.handed-off"]
            let positions = order.compactMap { kinds.firstIndex(of: $0) }
            #expect(positions.count == order.count && positions == positions.sorted(), "\(kinds)")
            #expect(!kinds.contains("evacuation.target-reattested") && !kinds.contains("evacuation.migrated"), "\(kinds)")
            // The first run failed: its exit status and what it said are recorded, the VM ran on at the source
            // (no-target: keep-running) and the next try handed it off.
            let exits = events.filter { $0.kind == "evacuation.executor" }
            #expect(exits.count == 2, "\(exits)")
            #expect(exits.first?.code == "evacuation.executor-failed" && (exits.first?.detail ?? "").hasPrefix("\(vm): exit 3: no valid host was found"), "\(exits)")
            #expect(exits.last?.code == nil && (exits.last?.detail ?? "").hasPrefix("\(vm): exit 0"), "\(exits)")
            #expect(events.first { $0.kind == "evacuation.handed-off" }?.host == "host-2")
            #expect(events.first { $0.kind == "evacuation.handed-off" }?.evacuation == EvacuationFields(vm: vm, source: "host-1", target: "host-2", outcome: .handedOff))

            try await AgentOrderLiveTests.ticksGrow(lab, vm, past: before)
            let ticks = lab.ticks(of: vm)
            #expect(ticks.boots == 1 && ticks.duplicates == 0 && ticks.memoryErrors == 0, "\(ticks)")
        }
    }
}
