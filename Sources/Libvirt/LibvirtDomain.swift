internal import CLibvirt
package import Foundation

/// One domain of a host (`virDomainPtr`), looked up through a ``LibvirtConnection``; it keeps that connection open.
///
/// `@unchecked Sendable`: `pointer` never changes and is freed once, in `deinit`; libvirt's domain calls are
/// thread-safe, so progress and abort may run while a migration of the same domain does.
package final class LibvirtDomain: @unchecked Sendable {
    package let connection: LibvirtConnection
    let pointer: LibvirtPointer
    package let name: String
    package let uuid: UUID

    /// Takes over `pointer`: freed in `deinit`, or here when its name or UUID cannot be read. Off the pool.
    init(connection: LibvirtConnection, pointer: LibvirtPointer) throws {
        self.connection = connection
        self.pointer = pointer
        do {
            name = try DomainInfo.domainName(pointer.raw)
            uuid = try DomainInfo.domainUUID(pointer.raw)
        } catch {
            _ = libvirt.virDomainFree(pointer.raw)
            throw error
        }
    }

    deinit {
        // Off the pool too: dropping the last reference on a closed connection closes it, a round trip.
        let handle = pointer
        OffPool.detach { _ = libvirt.virDomainFree(handle.raw) }
    }

    /// Name, UUID, state, vCPUs, memory, persistence, as they are now.
    package func info() async throws -> DomainInfo {
        try await call("virDomainGetInfo") { try DomainInfo.read($0) }
    }

    /// The domain's state (`virDomainGetState`).
    package func state() async throws -> DomainState {
        try await call("virDomainGetState") { d in
            var state: Int32 = 0
            var reason: Int32 = 0
            guard libvirt.virDomainGetState(d, &state, &reason, 0) == 0 else { throw LibvirtError.last("virDomainGetState", else: .callFailed) }
            return DomainState(state)
        }
    }

    /// Resumes a paused domain (`virDomainResume`): on the destination, once the migration has ended and the
    /// destination host is trusted.
    package func resume() async throws {
        try await call("virDomainResume") { d in
            guard libvirt.virDomainResume(d) == 0 else { throw LibvirtError.last("virDomainResume", else: .callFailed) }
        }
    }

    /// Pauses the running domain in place (`virDomainSuspend`): memory and devices kept; ``resume()`` lets it run.
    package func suspend() async throws {
        try await call("virDomainSuspend") { d in
            guard libvirt.virDomainSuspend(d) == 0 else { throw LibvirtError.last("virDomainSuspend", else: .callFailed) }
        }
    }

    /// Stops the domain at once (`virDomainDestroy`, the power cord); `operationInvalid` when it does not run.
    package func destroy() async throws {
        try await call("virDomainDestroy") { d in
            guard libvirt.virDomainDestroy(d) == 0 else { throw LibvirtError.last("virDomainDestroy", else: .callFailed) }
        }
    }

    /// Forgets the domain's definition on this host (`virDomainUndefine`); a running domain becomes transient.
    package func undefine() async throws {
        try await call("virDomainUndefine") { d in
            guard libvirt.virDomainUndefine(d) == 0 else { throw LibvirtError.last("virDomainUndefine", else: .callFailed) }
        }
    }

    /// Migrates the running domain live, peer to peer, to the libvirt daemon at `destinationURI`
    /// (`qemu+tls://HOST/system`), and returns when the migration has ended (`virDomainMigrateToURI3`).
    ///
    /// The flags are always `VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER | VIR_MIGRATE_PAUSED |
    /// VIR_MIGRATE_PERSIST_DEST | VIR_MIGRATE_UNDEFINE_SOURCE` (plus `VIR_MIGRATE_AUTO_CONVERGE` and
    /// `VIR_MIGRATE_PARALLEL` when `parameters` ask for them): the guest keeps running here during the copy, this
    /// host's daemon talks to the destination's itself, the destination keeps the domain paused (``resume()``
    /// there), defines it persistently, and this host forgets it. On failure or abort the domain keeps running
    /// here and the error says which (`migrateFailed`, `aborted`). Cancelling the calling task aborts the job.
    ///
    /// The migration runs on a connection of its own to the same daemon. libvirt's client lets one waiting call
    /// drive a connection's socket for every call on it; behind a call that waits as long as a migration, another
    /// one can go unsent until the migration ends, and an abort would never arrive. `jobStats()` and `abortJob()`
    /// use this domain's connection meanwhile.
    package func migrate(to destinationURI: String, parameters: MigrationParameters = MigrationParameters()) async throws {
        try parameters.validate()
        if Task.isCancelled { throw LibvirtError(.aborted, function: "migrate", message: "cancelled before the migration started") }
        let own = try await LibvirtConnection.open(connection.uri)
        do {
            try await migrate(try await own.domain(uuid: uuid), to: destinationURI, parameters: parameters)
            await own.close()
        } catch {
            await own.close()
            throw error
        }
    }

    /// Migrates `mover` (this domain, looked up on a connection of its own); a cancellation aborts through `self`.
    private func migrate(_ mover: LibvirtDomain, to destinationURI: String, parameters: MigrationParameters) async throws {
        let ended = EndFlag()
        try await withTaskCancellationHandler {
            try await mover.call("virDomainMigrateToURI3") { d in
                defer { ended.set() }
                if let downtime = parameters.maxDowntimeMs, libvirt.virDomainMigrateSetMaxDowntime(d, downtime, 0) != 0 {
                    throw LibvirtError.last("virDomainMigrateSetMaxDowntime", else: .migrateFailed)
                }
                var params: virTypedParameterPtr?
                var count: Int32 = 0
                var capacity: Int32 = 0
                defer { libvirt.virTypedParamsFree(params, count) }
                if let bandwidth = parameters.bandwidthMiBPerSecond,
                   libvirt.virTypedParamsAddULLong(&params, &count, &capacity, VIR_MIGRATE_PARAM_BANDWIDTH, bandwidth) != 0 {
                    throw LibvirtError.last("virTypedParamsAddULLong", else: .callFailed)
                }
                if let connections = parameters.parallelConnections,
                   libvirt.virTypedParamsAddInt(&params, &count, &capacity, VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS, Int32(connections)) != 0 {
                    throw LibvirtError.last("virTypedParamsAddInt", else: .callFailed)
                }
                if let uri = parameters.migrateURI,
                   libvirt.virTypedParamsAddString(&params, &count, &capacity, VIR_MIGRATE_PARAM_URI, uri) != 0 {
                    throw LibvirtError.last("virTypedParamsAddString", else: .callFailed)
                }
                guard libvirt.virDomainMigrateToURI3(d, destinationURI, params, UInt32(count), parameters.flags) == 0 else {
                    throw LibvirtError.last("virDomainMigrateToURI3", else: .migrateFailed)
                }
            }
        } onCancel: {
            // Until the migration has a job to abort (a cancellation can come first), try again every 100 ms.
            let handle = pointer
            OffPool.detach {
                withExtendedLifetime(self) {
                    while !ended.isSet, libvirt.virDomainAbortJob(handle.raw) != 0 { usleep(100_000) }
                }
            }
        }
    }

    /// The progress of the job that runs now (`virDomainGetJobStats`), or with `completed` the figures of the
    /// last one that ended (on the destination: the incoming migration's, with its downtime).
    package func jobStats(completed: Bool = false) async throws -> JobStats {
        try await call("virDomainGetJobStats") { d in
            var type: Int32 = 0
            var params: virTypedParameterPtr?
            var count: Int32 = 0
            let flags = completed ? UInt32(VIR_DOMAIN_JOB_STATS_COMPLETED.rawValue) : 0
            guard libvirt.virDomainGetJobStats(d, &type, &params, &count, flags) == 0 else {
                throw LibvirtError.last("virDomainGetJobStats", else: .callFailed)
            }
            defer { libvirt.virTypedParamsFree(params, count) }
            func value(_ name: String) -> UInt64? {
                var v: UInt64 = 0
                return libvirt.virTypedParamsGetULLong(params, count, name, &v) == 1 ? v : nil
            }
            return JobStats(kind: JobStats.Kind(type), timeElapsedMs: value(VIR_DOMAIN_JOB_TIME_ELAPSED),
                            dataTotal: value(VIR_DOMAIN_JOB_DATA_TOTAL), dataProcessed: value(VIR_DOMAIN_JOB_DATA_PROCESSED),
                            dataRemaining: value(VIR_DOMAIN_JOB_DATA_REMAINING),
                            memoryBytesPerSecond: value(VIR_DOMAIN_JOB_MEMORY_BPS), downtimeMs: value(VIR_DOMAIN_JOB_DOWNTIME))
        }
    }

    /// Aborts the job that runs now (`virDomainAbortJob`): a migration ends with `aborted` and the domain keeps
    /// running here. `operationInvalid` when no job runs.
    package func abortJob() async throws {
        try await call("virDomainAbortJob") { d in
            guard libvirt.virDomainAbortJob(d) == 0 else { throw LibvirtError.last("virDomainAbortJob", else: .callFailed) }
        }
    }

    /// Runs `body` off the pool with the handle; `self` (hence the handle and its connection) lives until it ends.
    private func call<T: Sendable>(_ function: String, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        try await OffPool.run(function) { [self] in try body(pointer.raw) }
    }
}

/// Set once a blocking call has returned; read by the thread that aborts it meanwhile.
///
/// `@unchecked Sendable`: `value` is read and written only under `lock`.
private final class EndFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
