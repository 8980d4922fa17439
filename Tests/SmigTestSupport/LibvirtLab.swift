package import Foundation
package import NamespaceLab

/// libvirt hosts for a test: NamespaceLab's ``LibvirtHosts`` (each host its own network, mount and UTS namespace
/// with its own address, libvirtd and virtlogd, joined by a bridge in the root namespace), made for the test and torn
/// down however it ends. Needs root.
package final class LibvirtLab: Sendable {
    package typealias Host = LibvirtHosts.Host

    package let hosts: LibvirtHosts
    package var a: Host { hosts.hosts[0] }
    package var b: Host { hosts.hosts[1] }
    package var directory: URL { hosts.directory }
    /// The lab's /24, e.g. "10.123.45" (A is .1, B is .2, …).
    package var prefix: String { hosts.prefix }
    /// A libvirt URI on the lab's network where nobody answers (no host has the address).
    package var unreachableURI: String { hosts.unreachableURI }

    private init(_ hosts: LibvirtHosts) { self.hosts = hosts }

    /// Brings `count` hosts up (A and B by default), runs `body`, and tears everything down whether `body` returns or
    /// throws. Takes one of the ``LiveScenarioSlots`` meanwhile: libvirt daemons and a TCG guest are a heavy scenario.
    package static func run<T>(hosts count: Int = 2, _ body: (LibvirtLab) async throws -> T) async throws -> T {
        await LiveScenarioSlots.shared.acquire()
        defer { LiveScenarioSlots.shared.releaseLater() }
        let lab = LibvirtLab(try await LibvirtHosts.up(count: count))
        do {
            let result = try await body(lab)
            try await lab.hosts.down()
            return result
        } catch {
            try? await lab.hosts.down()
            throw error
        }
    }

    /// Runs `virsh -c HOST args…` inside the host's namespaces and returns its output; throws when it fails.
    @discardableResult
    package func virsh(_ host: Host, _ args: String...) async throws -> String {
        try await hosts.virsh(host, args)
    }

    /// Defines (and starts, unless `start` is false) a counting guest `name` on `host` with virsh.
    package func defineCountingGuest(_ name: String, uuid: UUID = UUID(), memoryMiB: Int = 64, vcpus: Int = 1,
                                     on host: Host, start: Bool = true) async throws {
        try await hosts.defineCountingGuest(name, uuid: uuid, memoryMiB: memoryMiB, vcpus: vcpus, on: host, start: start)
    }

    /// What the counting guest `name` printed on every host so far.
    package func ticks(of name: String) -> GuestTicks { hosts.ticks(of: name) }
}
