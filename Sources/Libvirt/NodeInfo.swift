/// A host as libvirt describes it (`virNodeInfo`): what it has for domains.
package struct NodeInfo: Sendable, Hashable {
    /// Logical CPUs.
    package let cpus: Int
    /// Memory, KiB.
    package let memoryKiB: UInt64
}
