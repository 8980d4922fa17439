#if canImport(Glibc)
import Glibc
#endif
import Foundation
package import Migration
package import RegionProtocol
import Synchronization

/// The lab's QEMU processes on this host as its VM manager: each VM a daemonised `qemu-system-x86_64` with its QMP
/// sockets, pid file and log in one directory (what `smig-attest vm start` launches for a host), driven with the
/// Migration target's ``QEMUDriver`` and ``QMPClient``.
///
/// Unlike libvirt, QEMU does not create the receiving copy itself: `prepare` launches it here, paused (`-S`), waiting
/// with `-incoming tcp:ADDRESS:PORT` on a free port of ``incoming``, from the VM's machine that the prepare order
/// carries (the source's agent reports it: ``HostVM/machine``); it answers `tcp:ADDRESS:PORT`. `migrate` sends the state
/// there over the source's second monitor with the order's bandwidth, downtime limit and auto-converge (parallel
/// connections are not used: the target already listens on one), progress from `query-migrate`; the source then stays
/// `postmigrate` (paused, its state sent) until the RC-TCB orders it stopped — or, if the target fails, cancelled: it
/// runs here again.
package struct QEMUVMManager: HostVMManager {
    /// Where this host's QEMU listens for incoming migrations: `migrationAddress` in agent.json, `tcp:ADDRESS:LOW-HIGH`.
    package struct Incoming: Hashable, Sendable {
        package var address: String
        package var ports: ClosedRange<Int>

        package init(address: String, ports: ClosedRange<Int>) {
            self.address = address
            self.ports = ports
        }

        /// Reads `tcp:ADDRESS:LOW-HIGH` (a numeric IPv4 address; ports within 1024-65535, low ≤ high), nil if it is not that.
        package static func parse(_ text: String) -> Incoming? {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] == "tcp", Self.isIPv4(parts[1]), parts[2].split(separator: "-").allSatisfy(Self.isDigits),
                  let ports = try? MigrationHost.parsePorts(String(parts[2])), ports.lowerBound >= 1024, ports.upperBound <= 65535 else { return nil }
            return Incoming(address: String(parts[1]), ports: ports)
        }

        static func isIPv4(_ text: Substring) -> Bool {
            let octets = text.split(separator: ".", omittingEmptySubsequences: false)
            return octets.count == 4 && octets.allSatisfy { (1...3).contains($0.utf8.count) && isDigits($0) && UInt8($0) != nil }
        }

        static func isDigits(_ text: Substring) -> Bool {
            !text.isEmpty && text.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        }
    }

    package var kind: String { "qemu" }
    /// The VMs' directory (`vmManagerURI`): `VM.qmp`, `VM.mig.qmp`, `VM.pid`, `VM.log` of each.
    package let directory: String
    /// Where the boot images lie (`vmImageDirectory`): a prepare order naming a file elsewhere is refused, so a source
    /// host — which may be the compromised one — cannot make this host open any other file.
    package let imageDirectory: String
    package let incoming: Incoming
    let driver: QEMUDriver
    /// What each running QEMU said of its machine, by VM name with its pid: a process keeps its machine, memory and
    /// disk for its life, so a report asks it again only for its state (the RC-TCB asks every few seconds).
    let inspected = Inspected()

    final class Inspected: Sendable {
        let byName = Mutex<[String: (pid: Int32, seen: QEMUDriver.Inspection)]>([:])
    }

    package init(directory: String, imageDirectory: String, incoming: Incoming, configuration: QEMUDriver.Configuration = .init()) {
        self.directory = directory
        self.imageDirectory = imageDirectory
        self.incoming = incoming
        driver = QEMUDriver(configuration: configuration)
    }

    /// This host as the QEMU driver sees it.
    var host: MigrationHost {
        MigrationHost(name: "local", kind: .qemu, address: incoming.address, portLow: incoming.ports.lowerBound,
                      portHigh: incoming.ports.upperBound, stateDirectory: directory)
    }

    func instance(_ vm: String, port: Int? = nil) -> VMInstance { driver.instance(of: vm, on: host, port: port) }

    /// This machine's logical CPUs and physical memory: the lab's QEMU processes share the host with nothing else.
    package func capacity() async throws -> HostCapacity? {
        HostCapacity(vcpus: ProcessInfo.processInfo.activeProcessorCount,
                     memoryMiB: Int(ProcessInfo.processInfo.physicalMemory >> 20))
    }

    package func vms() async throws -> [HostVM] {
        var vms: [HostVM] = []
        let live = driver.liveVMs(on: host)
        inspected.byName.withLock { known in known = known.filter { entry in live.contains { $0 == (entry.key, entry.value.pid) } } }
        for (name, pid) in live {
            // One QMP connection per VM; a monitor that does not answer in time makes the VM `unresponsive`, not absent.
            var seen = inspected.byName.withLock { $0[name] }?.seen
            if var known = seen {
                known.state = await driver.state(of: instance(name))
                seen = known
            } else {
                seen = try? await driver.inspect(instance(name))
                if let seen { inspected.byName.withLock { $0[name] = (pid, seen) } }
            }
            guard let seen, !Self.unresponsive(seen.state) else {
                vms.append(HostVM(name: name, uuid: nil, vcpus: 0, memoryMiB: 0, state: "unresponsive", persistent: false))
                continue
            }
            vms.append(HostVM(name: name, uuid: seen.uuid, vcpus: seen.cpus, memoryMiB: seen.memoryMiB, state: Self.word(seen.state),
                              persistent: false,
                              machine: seen.bootImage.map { VMMachine(machineType: seen.machineType, memoryMiB: seen.memoryMiB, vcpus: seen.cpus, bootImage: $0) }))
        }
        return vms
    }

    static func unresponsive(_ state: VMRunState) -> Bool {
        if case .unresponsive = state { return true }
        return false
    }

    /// A QEMU state as ``HostVM/state`` words it (libvirt's words where they mean the same).
    static func word(_ state: VMRunState) -> String {
        switch state {
        case .running: "running"
        case .paused: "paused"
        case .incoming: "inmigrate"
        case .postMigrate: "postmigrate"
        case .absent: "shut-off"
        case .unresponsive: "unresponsive"
        case .other(let word): word
        }
    }

    package func prepareIncoming(_ vm: String) async throws -> String {
        try await prepareIncoming(vm, machine: nil)
    }

    package func prepareIncoming(_ vm: String, machine: VMMachine?) async throws -> String {
        guard let machine else {
            throw MigrationOrderError(.failed, "a QEMU host launches the receiving copy of \(vm) itself and the prepare order does not say its machine "
                                      + "(hint: only a QEMU source's agent reports it; both hosts of a move need the same VM manager)")
        }
        let description = VMDescription(name: vm, machineType: machine.machineType, memoryMiB: machine.memoryMiB, cpus: machine.vcpus,
                                        bootImage: try image(machine.bootImage))
        var failures: [String] = []
        for port in incoming.ports where failures.count < 3 && host.canListen(on: port) {
            do {
                _ = try await driver.prepareTarget(description, on: host, port: port)
                return "tcp:\(incoming.address):\(port)"
            } catch let error as MigrationError where error.code == .launchFailed {
                failures.append("port \(port): \(error.reason)")  // taken meanwhile, or QEMU refused the machine: next port
            }
        }
        throw MigrationOrderError(.failed, failures.isEmpty ? "no free port in \(incoming.ports) on \(incoming.address) for an incoming migration"
                                  : "QEMU did not start to receive \(vm): \(failures.joined(separator: "; "))")
    }

    /// `path` if it is a regular file inside ``imageDirectory`` once every link is resolved.
    package func image(_ path: String) throws -> String {
        func resolved(_ p: String) -> String? {
            guard let r = realpath(p, nil) else { return nil }
            defer { free(r) }
            return String(cString: r)
        }
        guard let root = resolved(imageDirectory), let file = resolved(path), file.hasPrefix(root == "/" ? "/" : root + "/") else {
            throw MigrationOrderError(.failed, "boot image \(path) is not a file in this host's image directory \(imageDirectory) (vmImageDirectory in agent.json)")
        }
        guard (try? FileManager.default.attributesOfItem(atPath: file))?[.type] as? FileAttributeType == .typeRegular else {
            throw MigrationOrderError(.failed, "boot image \(path) is not a regular file")
        }
        return file
    }

    /// The URI of a `prepare` answer, `tcp:ADDRESS:PORT` with a numeric IPv4 address, or nil: QEMU would also take
    /// `exec:` and `unix:` URIs, which are never passed on.
    package static func destination(_ address: String) -> String? {
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "tcp", Incoming.isIPv4(parts[1]), Incoming.isDigits(parts[2]),
              let port = UInt16(parts[2]), port > 0 else { return nil }
        return address
    }

    package func migrate(_ vm: String, to address: String, tuning: MigrationOrder.Tuning?,
                         progress: @escaping @Sendable (MigrationOrderStatus.Progress) -> Void) async throws -> MigrationOrderStatus.Progress {
        guard let uri = Self.destination(address) else {
            throw MigrationOrderError(.failed, "'\(address.prefix(128))' is not where a QEMU host waits for a migration (tcp:ADDRESS:PORT)")
        }
        let source = instance(vm)
        let state = await driver.state(of: source)
        guard state == .running || state == .paused else {
            throw MigrationOrderError(.failed, "\(vm) is \(state) on this host, not running or paused")
        }
        var configuration = driver.configuration
        configuration.tuning = Self.tuning(tuning)
        let last = Mutex<MigrationProgress?>(nil)
        try await QEMUDriver(configuration: configuration).sendState(of: source, to: uri, towards: address, yield: { p in
            last.withLock { $0 = p }
            progress(Self.progress(p))
        })
        return Self.progress(last.withLock { $0 } ?? MigrationProgress(status: "completed"))
    }

    /// The order's tuning as QEMU's migration parameters (parallel connections left out: see the type's comment).
    package static func tuning(_ t: MigrationOrder.Tuning?) -> MigrationTuning {
        guard let t else { return .qemuDefaults }
        return MigrationTuning(maxBandwidthBytesPerSecond: t.maxBandwidthMiBps.map { $0 << 20 }, downtimeLimitMs: t.downtimeLimitMs,
                               multifdChannels: 0, autoConverge: t.autoConverge)
    }

    static func progress(_ p: MigrationProgress) -> MigrationOrderStatus.Progress {
        MigrationOrderStatus.Progress(status: p.status, transferredBytes: p.transferredBytes, remainingBytes: p.remainingBytes,
                                      totalBytes: p.totalBytes, totalTimeMs: p.totalTimeMs, downtimeMs: p.downtimeMs)
    }

    package func resume(_ vm: String) async throws {
        let copy = try await present(vm)
        _ = try await driver.resume(copy)
    }

    package func pause(_ vm: String) async throws {
        let copy = try await present(vm)
        if await driver.state(of: copy) == .paused { return }
        try await driver.pause(copy)
    }

    /// Undoes a move out of this host, as ``QEMUDriver/cancel(from:)`` does for the RC-TCB's own QEMU hosts: a transfer
    /// that has not ended is aborted, and the VM runs here again — also after a completed transfer (`postmigrate`): the
    /// copy the target holds is then stale, and the RC-TCB stops it. A VM with no migration (running, or held paused on
    /// purpose) is left as it is.
    package func cancel(_ vm: String) async throws {
        let copy = instance(vm)
        let state = await driver.state(of: copy)
        guard state.hasProcess else { return }
        if state != .postMigrate {
            let qmp = try await QMPClient.connect(path: copy.controlPath, timeout: driver.configuration.qmpTimeout)
            defer { qmp.close() }
            guard QEMUDriver.transferring.contains(try await qmp.execute("query-migrate")["status"]?.string ?? "none") else { return }
        }
        try await driver.cancel(from: copy)
    }

    package func stop(_ vm: String) async throws {
        try await driver.stop(instance(vm))
    }

    /// The copy of `vm` here; `order.failed` when no QEMU runs it.
    func present(_ vm: String) async throws -> VMInstance {
        let copy = instance(vm)
        guard await driver.state(of: copy).hasProcess else { throw MigrationOrderError(.failed, "no QEMU runs \(vm) on this host") }
        return copy
    }
}
