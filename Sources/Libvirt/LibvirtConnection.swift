internal import CLibvirt
package import Foundation

/// A connection to one libvirt daemon (`virConnectPtr`): `qemu:///system` for the host's own, `qemu+tls://HOST/system`
/// (production) or `qemu+tcp://HOST/system` (the lab) for another host's.
///
/// One owner of the handle: `close()` or, failing that, `deinit` closes it. Every call runs on a thread of its own
/// (``OffPool``) and holds a reference of its own on the handle while it runs, so a `close()` in between never
/// pulls the connection from under it. Several calls may run at once (progress and abort while a migration runs).
///
/// `@unchecked Sendable`: `pointer` is read and cleared only under `lock`; libvirt connections are thread-safe.
package final class LibvirtConnection: @unchecked Sendable {
    package let uri: String
    private let lock = NSLock()
    private var pointer: OpaquePointer?

    private init(uri: String, pointer: OpaquePointer) {
        self.uri = uri
        self.pointer = pointer
    }

    deinit {
        if let pointer {
            let handle = LibvirtPointer(raw: pointer)
            OffPool.detach { _ = libvirt.virConnectClose(handle.raw) }
        }
    }

    /// Opens a read-write connection (`virConnectOpen`); fails with `connectFailed` and libvirt's message.
    package static func open(_ uri: String) async throws -> LibvirtConnection {
        try await OffPool.run("virConnectOpen") {
            guard let pointer = libvirt.virConnectOpen(uri) else {
                let error = LibvirtError.last("virConnectOpen", else: .connectFailed)
                throw LibvirtError(.connectFailed, function: error.function, libvirtCode: error.libvirtCode,
                                   libvirtDomain: error.libvirtDomain, message: "\(uri): \(error.message)")
            }
            return LibvirtConnection(uri: uri, pointer: pointer)
        }
    }

    /// Closes the connection (`virConnectClose`). Calls still running finish on their own reference; later calls
    /// fail with `closed`. Closing twice does nothing.
    package func close() async {
        guard let handle = take() else { return }
        _ = try? await OffPool.run("virConnectClose") { _ = libvirt.virConnectClose(handle.raw) }
    }

    /// Every domain of the host, running or defined (`virConnectListAllDomains`), in libvirt's order.
    package func domains() async throws -> [DomainInfo] {
        try await withConnection("virConnectListAllDomains") { conn in
            var list: UnsafeMutablePointer<OpaquePointer?>?
            let count = libvirt.virConnectListAllDomains(conn, &list, 0)
            guard count >= 0, let list else { throw LibvirtError.last("virConnectListAllDomains", else: .callFailed) }
            defer {
                for i in 0..<Int(count) { if let d = list[i] { libvirt.virDomainFree(d) } }
                free(list)
            }
            return try (0..<Int(count)).compactMap { i -> DomainInfo? in
                guard let d = list[i] else { return nil }
                do {
                    return try DomainInfo.read(d)
                } catch let error as LibvirtError where error.code == .noDomain {
                    return nil  // undefined (a transient domain stopped, a migration finished) since the listing
                }
            }
        }
    }

    /// The domain called `name` (`virDomainLookupByName`); `noDomain` when there is none.
    package func domain(named name: String) async throws -> LibvirtDomain {
        try await withConnection("virDomainLookupByName") { [self] conn in
            guard let d = libvirt.virDomainLookupByName(conn, name) else { throw LibvirtError.last("virDomainLookupByName", else: .callFailed) }
            return try LibvirtDomain(connection: self, pointer: LibvirtPointer(raw: d))
        }
    }

    /// The domain with `uuid` (`virDomainLookupByUUIDString`); `noDomain` when there is none.
    package func domain(uuid: UUID) async throws -> LibvirtDomain {
        let text = uuid.uuidString.lowercased()
        return try await withConnection("virDomainLookupByUUIDString") { [self] conn in
            guard let d = libvirt.virDomainLookupByUUIDString(conn, text) else {
                throw LibvirtError.last("virDomainLookupByUUIDString", else: .callFailed)
            }
            return try LibvirtDomain(connection: self, pointer: LibvirtPointer(raw: d))
        }
    }

    // MARK: - Internals

    private func take() -> LibvirtPointer? {
        lock.lock()
        defer { lock.unlock() }
        guard let p = pointer else { return nil }
        pointer = nil
        return LibvirtPointer(raw: p)
    }

    /// Runs `body` off the pool with the handle, under a reference of its own (`virConnectRef`, dropped after).
    private func withConnection<T: Sendable>(_ function: String, _ body: @escaping @Sendable (OpaquePointer) throws -> T) async throws -> T {
        let handle: LibvirtPointer? = {
            lock.lock()
            defer { lock.unlock() }
            guard let p = pointer, libvirt.virConnectRef(p) == 0 else { return nil }
            return LibvirtPointer(raw: p)
        }()
        guard let handle else { throw LibvirtError(.closed, function: function, message: "the connection to \(uri) is closed") }
        return try await OffPool.run(function) {
            defer { _ = libvirt.virConnectClose(handle.raw) }
            return try body(handle.raw)
        }
    }
}
