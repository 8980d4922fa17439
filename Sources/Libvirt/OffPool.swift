import Foundation

/// Where libvirt calls run: each on a thread of its own, never on Swift's cooperative pool.
///
/// libvirt calls block — a migration for as long as it takes, any remote call for a round trip or a TCP time-out.
/// The cooperative pool has one thread per core (two here); a blocked one stalls every task and deadline of the
/// process. A serial queue per connection would not do either: a migration would hold it, and progress and abort
/// are asked on the same connection while it runs (libvirt connections are safe to use from several threads).
enum OffPool {
    /// Runs `body` on a new thread and returns its result; the calling task waits without holding a thread. Fails
    /// with `libvirt.library-missing` (and runs nothing) when libvirt cannot be loaded.
    static func run<T: Sendable>(_ function: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        if case .failure(let error) = LibvirtLibrary.shared { throw error }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "libvirt \(function)"
            thread.start()
        }
    }

    /// Runs `body` on a new thread and does not wait for it (closing a connection from `deinit`).
    static func detach(_ body: @escaping @Sendable () -> Void) {
        Thread.detachNewThread(body)
    }
}

/// A libvirt pointer handed to the thread that uses it.
///
/// `@unchecked Sendable`: libvirt's objects (`virConnectPtr`, `virDomainPtr`) are reference counted and their API
/// is thread-safe; each owner class keeps the pointer alive for as long as a call that received it runs.
struct LibvirtPointer: @unchecked Sendable {
    let raw: OpaquePointer
}
