package import ArgumentParser
package import BuiltInGuests
import Foundation
package import Migration

/// `smig-attest vm ...`: start, stop and resume VMs; declare hosts.
package struct VMCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "vm",
        abstract: "Start or stop a VM; declare the hosts VMs run on. (Moving a VM is the RC-TCB's: see `migrate`.)",
        subcommands: [VMStartCommand.self, VMStopCommand.self, VMResumeCommand.self, VMHostCommand.self])

    package init() {}
}

package struct VMStartCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Start a VM on a host and record it in the inventory.",
        discussion: "Without --image the VM boots the built-in test guest (a boot sector that keeps counting).")

    @OptionGroup package var options: MigrationStateOptions
    @Argument(help: "VM name (A-Z a-z 0-9 - _).") public var name: String
    @Option(help: "Host to start it on (see `vm host add`).") public var host: String
    @Option(help: "Memory in MiB.") package var memory = 64
    @Option(help: "QEMU machine type.") package var machine = "pc"
    @Option(help: "Virtual CPUs.") package var cpus = 1
    @Option(help: "Raw floppy boot image (default: a built-in guest, see --guest).") public var image: String?
    @Option(help: "Built-in guest without --image: counter (counts as fast as it can) or ticker (counts 100 Hz timer ticks, idle in between).")
    package var guest: TestGuest.Kind = .counter

    package init() {}

    package func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        let kind = guest
        let bootImage = try image ?? TestGuest.writeImage(to: "\(options.resolvedStateDir)/images/\(kind == .counter ? "test-guest" : "ticker-guest").img", kind: kind)
        let vm = VMDescription(name: name, machineType: machine, memoryMiB: memory, cpus: cpus, bootImage: bootImage)
        let instance = try await options.withOrchestrator { try await $0.startVM(vm, on: host) }
        if options.json {
            print(try Output.jsonString(instance))
        } else {
            print("\(name) running on \(host) (QMP \(instance.controlPath))")
        }
    }
}

package struct VMStopCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a VM and remove it from the inventory.")
    @OptionGroup package var options: MigrationStateOptions
    @Argument(help: "VM name.") package var name: String
    package init() {}

    package func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        try await options.withOrchestrator { try await $0.stopVM(name) }
        print(options.json ? try Output.jsonString(["stopped": name]) : "\(name) stopped")
    }
}


package struct VMHostCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "host",
        abstract: "Declare, list and remove hosts (a name, an address, a port range and a state directory).",
        subcommands: [VMHostAddCommand.self, VMHostListCommand.self, VMHostRemoveCommand.self])
    package init() {}
}

package struct VMHostAddCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Declare a host.",
        discussion: """
            Example: smig-attest vm host add a --address 127.0.0.1 --ports 47000-47099
            Several hosts may share one machine: give each its own port range.
            """)
    @OptionGroup package var options: MigrationStateOptions
    @Argument(help: "Host name.") package var name: String
    @Option(help: "Address incoming migrations listen on.") package var address = "127.0.0.1"
    @Option(help: "Port range for incoming migrations, LOW-HIGH.") package var ports: String
    @Option(help: "Hypervisor: qemu or xen (agent: moved by the host's agent on the RC-TCB's orders).") package var kind: MigrationHost.Kind = .qemu
    @Option(name: .customLong("host-dir"), help: "State directory of this host (default: STATE-DIR/hosts/NAME).") public var hostDir: String?
    package init() {}

    package func validate() throws {
        do { _ = try MigrationHost.parsePorts(ports) } catch { throw ValidationError("\(error)") }
    }

    package func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        let range = try MigrationHost.parsePorts(ports)
        let host = MigrationHost(name: name, kind: kind, address: address,
                                 portLow: range.lowerBound, portHigh: range.upperBound,
                                 stateDirectory: hostDir ?? "\(options.resolvedStateDir)/hosts/\(name)")
        try await options.withInventory(create: true) { try await $0.addHost(host) }
        print(options.json ? try Output.jsonString(host) : "host \(name) added (\(address) \(ports), \(host.stateDirectory))")
    }
}

package struct VMHostListCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(commandName: "list", abstract: "List declared hosts.")
    @OptionGroup package var options: MigrationStateOptions
    package init() {}

    package func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        let hosts = try await options.withInventory { try await $0.hosts() }
        if options.json {
            print(try Output.jsonString(hosts))
        } else {
            print(Output.table(["HOST", "KIND", "ADDRESS", "PORTS", "STATE DIR"],
                                        hosts.map { [$0.name, $0.kind.rawValue, $0.address, "\($0.portLow)-\($0.portHigh)", $0.stateDirectory] }))
        }
    }
}

package struct VMHostRemoveCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a declared host from the inventory.",
        discussion: """
            Refused (status 1, nothing changed) while a VM is recorded on the host or an open migration names it: \
            stop or migrate its VMs first, and finish interrupted migrations with `smig-attest vms --recover`. \
            The host's state directory and the migration history stay; the inventory's audit trail records the removal.
            """)
    @OptionGroup package var options: MigrationStateOptions
    @Argument(help: "Host name.") package var name: String
    package init() {}

    package func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        try await options.withInventory { try await $0.removeHost(name) }
        print(options.json ? try Output.jsonString(["removed": name]) : "host \(name) removed")
    }
}

extension MigrationHost.Kind: ExpressibleByArgument {}
extension TestGuest.Kind: ExpressibleByArgument {}
