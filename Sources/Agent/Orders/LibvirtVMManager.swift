import Foundation
import Libvirt
package import RegionProtocol

/// The host's libvirt daemon as its VM manager: domains are reported as libvirt lists them, and moved live and peer
/// to peer (this host's libvirtd talks to the target's itself) with the destination paused, persisted there and
/// undefined here (`VIR_MIGRATE_LIVE | PEER2PEER | PAUSED | PERSIST_DEST | UNDEFINE_SOURCE`), progress from the
/// job's statistics, cancel by aborting the job. A target has nothing to prepare: the migration creates the paused
/// domain there; it answers with ``incomingAddress``.
package struct LibvirtVMManager: HostVMManager {
    package var kind: String { "libvirt" }
    /// This host's libvirtd, as the agent reaches it (`qemu:///system`).
    package let uri: String
    /// This host's libvirtd as other hosts' libvirtd reach it (`qemu+tls://10.0.0.12/system`): the address a target
    /// answers `prepare` with.
    package let incomingAddress: String
    /// How often a running migration's progress is read.
    let progressInterval: Duration

    package init(uri: String, incomingAddress: String, progressInterval: Duration = .milliseconds(250)) {
        self.uri = uri
        self.incomingAddress = incomingAddress
        self.progressInterval = progressInterval
    }

    /// Runs `body` with a connection of its own, closed afterwards.
    func withConnection<T: Sendable>(_ body: (LibvirtConnection) async throws -> T) async throws -> T {
        let connection = try await LibvirtConnection.open(uri)
        do {
            let value = try await body(connection)
            await connection.close()
            return value
        } catch {
            await connection.close()
            throw error
        }
    }

    package func vms() async throws -> [HostVM] {
        try await withConnection { c in
            try await c.domains().map { d in
                HostVM(name: d.name, uuid: d.uuid, vcpus: d.vcpus, memoryMiB: Int(d.maxMemoryKiB / 1024), state: d.state.rawValue, persistent: d.persistent)
            }
        }
    }

    /// The node's logical CPUs and memory (`virNodeGetInfo`).
    package func capacity() async throws -> HostCapacity? {
        try await withConnection { c in
            let node = try await c.nodeInfo()
            return HostCapacity(vcpus: node.cpus, memoryMiB: Int(node.memoryKiB / 1024))
        }
    }

    package func prepareIncoming(_ vm: String) async throws -> String {
        try await withConnection { c in
            // A copy that runs here already would be a second one.
            if let existing = try await Self.domain(vm, on: c), try await existing.state() != .shutOff {
                throw MigrationOrderError(.failed, "a domain called \(vm) already runs on this host (\(try await existing.state()))")
            }
        }
        return incomingAddress
    }

    package func migrate(_ vm: String, to address: String, tuning: MigrationOrder.Tuning?,
                         progress: @escaping @Sendable (MigrationOrderStatus.Progress) -> Void) async throws -> MigrationOrderStatus.Progress {
        let parameters = MigrationParameters(
            bandwidthMiBPerSecond: tuning?.maxBandwidthMiBps, maxDowntimeMs: tuning?.downtimeLimitMs, autoConverge: tuning?.autoConverge ?? false,
            parallelConnections: (tuning?.parallelConnections ?? 0) > 0 ? tuning?.parallelConnections : nil)
        return try await withConnection { c in
            guard let domain = try await Self.domain(vm, on: c) else { throw MigrationOrderError(.failed, "no domain called \(vm) on this host") }
            let interval = progressInterval
            let watcher = Task {
                while !Task.isCancelled {
                    if let stats = try? await domain.jobStats(), stats.kind != .none { progress(Self.progress(stats, status: "active")) }
                    try? await Task.sleep(for: interval)
                }
            }
            defer { watcher.cancel() }
            try await domain.migrate(to: address, parameters: parameters)
            watcher.cancel()
            // The source domain is undefined now; the completed job's figures are read while the handle still works.
            let final = (try? await domain.jobStats(completed: true)).map { Self.progress($0, status: "completed") }
            return final ?? MigrationOrderStatus.Progress(status: "completed")
        }
    }

    static func progress(_ s: JobStats, status: String) -> MigrationOrderStatus.Progress {
        MigrationOrderStatus.Progress(status: status, transferredBytes: s.dataProcessed ?? 0, remainingBytes: s.dataRemaining ?? 0,
                                      totalBytes: s.dataTotal ?? 0, totalTimeMs: status == "completed" ? s.timeElapsedMs : nil, downtimeMs: s.downtimeMs)
    }

    package func resume(_ vm: String) async throws {
        try await withConnection { c in
            let domain = try await Self.required(vm, on: c)
            if try await domain.state() == .running { return }
            try await domain.resume()
        }
    }

    package func pause(_ vm: String) async throws {
        try await withConnection { c in
            let domain = try await Self.required(vm, on: c)
            if try await domain.state() == .paused { return }
            try await domain.suspend()
        }
    }

    package func cancel(_ vm: String) async throws {
        try await withConnection { c in
            let domain = try await Self.required(vm, on: c)
            do { try await domain.abortJob() } catch let error as LibvirtError where error.code == .operationInvalid {
                return  // no job runs: nothing to abort
            }
        }
    }

    package func stop(_ vm: String) async throws {
        try await withConnection { c in
            guard let domain = try await Self.domain(vm, on: c) else { return }
            let info = try await domain.info()
            if info.state != .shutOff {
                do { try await domain.destroy() } catch let error as LibvirtError where error.code == .operationInvalid || error.code == .noDomain {}
            }
            if info.persistent {
                do { try await domain.undefine() } catch let error as LibvirtError where error.code == .noDomain {}
            }
        }
    }

    /// The domain called `name`, or nil when the host has none.
    static func domain(_ name: String, on c: LibvirtConnection) async throws -> LibvirtDomain? {
        do { return try await c.domain(named: name) } catch let error as LibvirtError where error.code == .noDomain { return nil }
    }

    static func required(_ name: String, on c: LibvirtConnection) async throws -> LibvirtDomain {
        guard let d = try await domain(name, on: c) else { throw MigrationOrderError(.failed, "no domain called \(name) on this host") }
        return d
    }
}
