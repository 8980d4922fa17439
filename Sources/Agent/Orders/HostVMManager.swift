package import RegionProtocol

/// What runs this host's VMs, as the agent uses it to carry out the RC-TCB's migration orders: libvirt
/// (``LibvirtVMManager``) on KVM/QEMU hosts, the lab's QEMU processes (``QEMUVMManager``). The RC-TCB never learns which one a host has; it sends the same orders.
///
/// Every step is idempotent where the VM manager allows it: resuming a running VM, stopping an absent one, cancelling
/// when no migration runs succeed without doing anything.
package protocol HostVMManager: Sendable {
    /// The word the agent reports (`libvirt`, `qemu`).
    var kind: String { get }
    /// Every VM of the host, as the VM manager reports it.
    func vms() async throws -> [HostVM]
    /// The host's room for VMs, as the VM manager reports it; nil where it does not say.
    func capacity() async throws -> HostCapacity?
    /// Gets ready to receive `vm` paused (nothing to do where the source's manager creates the destination itself,
    /// as libvirt's peer-to-peer migration does) and returns where the source sends it.
    func prepareIncoming(_ vm: String) async throws -> String
    /// ``prepareIncoming(_:)`` with what the prepare order says of the VM's machine (nil: it says nothing), for a VM
    /// manager that launches the receiving copy itself. By default the machine is not needed.
    func prepareIncoming(_ vm: String, machine: VMMachine?) async throws -> String
    /// Sends `vm` live to the VM manager at `address` with its destination paused; returns when the migration has
    /// ended (the copy there holds the state, paused), reporting progress meanwhile. Fails when it did not end there.
    func migrate(_ vm: String, to address: String, tuning: MigrationOrder.Tuning?,
                 progress: @escaping @Sendable (MigrationOrderStatus.Progress) -> Void) async throws -> MigrationOrderStatus.Progress
    /// Lets the paused `vm` run.
    func resume(_ vm: String) async throws
    /// Holds the running `vm` paused in place.
    func pause(_ vm: String) async throws
    /// Aborts an unfinished migration of `vm` out of this host; it keeps running here.
    func cancel(_ vm: String) async throws
    /// Stops this host's copy of `vm` and forgets it.
    func stop(_ vm: String) async throws
}

extension HostVMManager {
    /// A VM manager that does not report the host's room: the region policy's `capacity` alone places VMs there.
    package func capacity() async throws -> HostCapacity? { nil }

    package func prepareIncoming(_ vm: String, machine: VMMachine?) async throws -> String {
        try await prepareIncoming(vm)
    }
}
