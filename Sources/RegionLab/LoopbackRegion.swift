import ChildProcesses
package import Foundation
import BuiltInGuests
package import Swtpm
package import Migration
package import RegionTCB
import TPM

/// A whole SMIG region on loopback, made of real parts: per host a swtpm (with EK certificates from its own local
/// CA), an agent process and what stands in for its hypervisor (``Hypervisor``); one or more `rctcb serve`
/// processes of the region, keeping their state in SQLite or in a PostgreSQL database (``Store``), and test VMs
/// (ticker guests) in the RC-TCB's inventory. `smig-attest demo`, `smig-attest bench response` and the tests
/// that need a region of real processes are built on it. Everything it starts it stops again (`stop`).
///
/// ``start()`` brings the whole region up (the demo's way); the steps it takes — ``prepare(hostKeys:)``,
/// ``startRCTCB(_:_:executable:port:)``, ``enrolAndStartAgents(via:rctcb:agentKeys:)`` — are there for a test that
/// needs to act between them.
package final class LoopbackRegion: @unchecked Sendable {
    // @unchecked Sendable: driven by one task at a time; its child processes are ``RegionProcesses``'s.

    /// What stands in for each host's hypervisor, as its agent measures it.
    package enum Hypervisor: Sendable {
        /// A QEMU process, measured as `process-text`; each host also has a synthetic boot log.
        case qemu
        /// A file of its own (`file:`), which a test writes into to compromise the host.
        case file
    }

    /// Where the RC-TCBs keep the region's state.
    package enum Store: Sendable {
        /// Each RC-TCB's own SQLite files in its directory.
        case sqlite
        /// One PostgreSQL database at this URL, shared by every RC-TCB of the region (`rctcb serve --store`).
        case postgresql(url: String)
    }

    package struct Options: Sendable {
        package var hosts = 5
        package var vmsPerHost = 2
        package var vmMemoryMiB = 64
        /// Agents push a notice as soon as a measurement changes (false: only the ring's challenges find it).
        package var push = true
        package var measurementInterval = 0.2
        package var challengeInterval = 1.0
        package var hypervisor = Hypervisor.qemu
        package var store = Store.sqlite
        /// More arguments for every `rctcb serve` the region starts.
        package var serveExtra: [String] = []
        /// How many RC-TCB directories the region has: the first made by `rctcb init`, the others copies of it (the
        /// same region CA and RC-TCB certificate, as an operator copies them to each machine).
        package var rctcbs = 1
        package var regionName = "loopback-demo"
        /// The region policy's lines after `on-state` (default: the lab's evacuation, migration and target rules).
        package var policyTail = RegionProcesses.labPolicyTail
        /// The smig-attest executable the agents and the RC-TCB run as.
        package var binary: String
        /// Work directory (default: a new temporary one, removed by `stop`).
        package var directory: String?
        /// The policy's `quote-freshness`, in seconds.
        package var quoteFreshness = 30
        /// More EK CAs `rctcb init` trusts, besides every swtpm's local CA.
        package var extraEKCAs: [String] = []
        /// The last host runs in this network namespace (``Namespace``); nil: every host on loopback.
        package var namespace: Namespace?
        package init(binary: String) { self.binary = binary }
    }

    /// A network namespace for the region's last host: its swtpm, `tpm provision`, enrolment and agent run inside
    /// it, reached over a veth pair; the other hosts and the RC-TCBs then listen on every address, and the
    /// namespaced host reaches them at the veth's root-side address.
    package struct Namespace: Sendable {
        /// The command prefix that runs a program inside the namespace (e.g. `ip netns exec NAME`).
        package var enter: [String]
        /// The namespaced host's address (its side of the veth).
        package var hostAddress: String
        /// The root namespace's side of the veth.
        package var rootAddress: String
        package init(enter: [String], hostAddress: String, rootAddress: String) {
            self.enter = enter
            self.hostAddress = hostAddress
            self.rootAddress = rootAddress
        }
    }

    package struct Host: Sendable {
        package var id: String
        package var swtpm: SoftwareTPM
        /// The TCTI the host's own programs use (its swtpm's, or inside its namespace).
        package var tcti: String
        /// Prepended to the host's commands (``Namespace/enter``), or empty.
        package var enter: [String] = []
        package var stateDirectory: String
        package var agentPort: Int
        package var agentConfig: String
        /// The QEMU process standing in for this host's hypervisor (``Hypervisor/qemu``).
        package var hypervisorProcess: VMInstance?
        /// The file standing in for this host's hypervisor (``Hypervisor/file``).
        package var hypervisorFile: String?
    }

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
    }

    package let options: Options
    package let dir: String
    let ownsDirectory: Bool
    /// The hosts; a test that replaces a host's TPM records its new TCTI here.
    package var hosts: [Host] = []
    /// The URL of the RC-TCB started last.
    package internal(set) var url = ""
    /// Each RC-TCB's fixed port (agents keep its URL across restarts).
    package internal(set) var rctcbPorts: [Int] = []
    package var rctcbDir: String { rctcbDir(0) }
    package var regionFile: String { "\(dir)/region.yaml" }
    package var urls: [String] { rctcbPorts.map { "https://127.0.0.1:\($0)" } }
    let processes: RegionProcesses
    let say: @Sendable (String) -> Void
    var hypervisorImage = ""
    /// Every port handed out so far (``freePortPair()``).
    var takenPorts: Set<Int> = []
    var stopped = false
    /// The first RC-TCB's IVT, opened once (``store()``; a test may read it from several tasks, hence the lock).
    var ivt: IVTStore?
    let ivtLock = NSLock()

    package init(_ options: Options, say: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.options = options
        self.say = say
        ownsDirectory = options.directory == nil
        dir = options.directory ?? FileManager.default.temporaryDirectory.appendingPathComponent("smig-region-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        processes = RegionProcesses(binary: options.binary, dir: dir)
        // Who made it: a directory whose owner is gone was left behind (the tests look for those).
        try String(getpid()).write(toFile: "\(dir)/owner", atomically: true, encoding: .utf8)  // not *.pid: stop() kills those
    }

    deinit { stop() }

    /// RC-TCB `i`'s directory (the first is `DIR/rctcb`).
    package func rctcbDir(_ i: Int) -> String { i == 0 ? "\(dir)/rctcb" : "\(dir)/rctcb-\(i + 1)" }

    /// The first RC-TCB's IVT (``Store/sqlite``).
    package func store() throws -> IVTStore {
        try ivtLock.withLock {
            if let ivt { return ivt }
            let opened = try IVTStore(path: "\(rctcbDir)/ivt.sqlite")
            ivt = opened
            return opened
        }
    }
    /// The inventory every RC-TCB of the region is given (the first RC-TCB's own).
    package var inventoryPath: String { "\(rctcbDir)/vms.sqlite" }
    package func inventory() throws -> VMInventory { try VMInventory(path: inventoryPath) }

    /// A free port pair no other part of the region was given: a free port is not taken until something listens on
    /// it, so the system may offer one twice before the region's processes have started.
    package func freePortPair() throws -> Int {
        while true {
            let p = try SoftwareTPM.freePortPair()
            if !takenPorts.contains(p), !takenPorts.contains(p + 1) {
                takenPorts.formUnion([p, p + 1])
                return p
            }
        }
    }

    // MARK: Teardown

    /// Stops every process it started (guests, hypervisors, agents, the RC-TCBs, swtpm) and removes its directory if
    /// it made it. Synchronous and signal-safe enough for a Ctrl-C handler; a second call does nothing.
    package func stop() {
        guard !stopped else { return }
        stopped = true
        processes.stopAll()
        for path in Self.pidFiles(under: dir) {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
        }
        // A TPM whose state goes with the directory is destroyed (killed at once); one kept is stopped in order.
        for h in hosts { if ownsDirectory { h.swtpm.destroy() } else { h.swtpm.stop() } }
        if ownsDirectory { try? FileManager.default.removeItem(atPath: dir) }
    }

    static func pidFiles(under dir: String) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: dir) else { return [] }
        return e.compactMap { $0 as? String }.filter { $0.hasSuffix(".pid") && !$0.contains("tpm-") }.map { "\(dir)/\($0)" }
    }

    // MARK: Processes

    package func pid(of instance: VMInstance) throws -> Int32 {
        guard let text = try? String(contentsOfFile: instance.pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw Failure(description: "no pid in \(instance.pidFile)")
        }
        return pid
    }

    /// The pid of host `index`'s hypervisor process (``Hypervisor/qemu``).
    package func hypervisorPID(_ index: Int) throws -> Int32 {
        guard let instance = hosts[index].hypervisorProcess else { throw Failure(description: "\(hosts[index].id)'s hypervisor is a file, not a process") }
        return try pid(of: instance)
    }

    /// Runs `smig-attest ARGS` (or `tool`) to completion; output through a file, never a pipe.
    @discardableResult
    package func run(_ args: [String], tool: String? = nil) throws -> String { try processes.run(args, tool: tool) }

    /// Polls `condition` every 50 ms; throws after `seconds`.
    package func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) async throws {
        try await processes.waitUntil(what, seconds: seconds, condition)
    }
}
