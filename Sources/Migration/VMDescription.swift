/// What a VM is: everything that must be identical on both sides of a migration.
package struct VMDescription: Codable, Sendable, Hashable {
    package var name: String
    /// QEMU machine type as given (`pc`, `q35`, `pc-i440fx-7.2`, ...).
    package var machineType: String
    package var memoryMiB: Int
    package var cpus: Int
    /// Raw boot image (a floppy image holding a boot sector), opened read-only.
    package var bootImage: String

    package init(name: String, machineType: String = "pc", memoryMiB: Int, cpus: Int = 1, bootImage: String) {
        self.name = name
        self.machineType = machineType
        self.memoryMiB = memoryMiB
        self.cpus = cpus
        self.bootImage = bootImage
    }

    /// Throws `invalidArgument` for anything that could not be passed safely to a hypervisor.
    package func validate() throws {
        try Self.validateName(name, what: "VM name")
        let machineChars = Set("abcdefghijklmnopqrstuvwxyz0123456789-._")
        guard !machineType.isEmpty, machineType.count <= 64, machineType.allSatisfy({ machineChars.contains($0) }) else {
            throw MigrationError(.invalidArgument, "machine type '\(machineType)' is not a QEMU machine name")
        }
        guard (1...65536).contains(memoryMiB) else {
            throw MigrationError(.invalidArgument, "memory \(memoryMiB) MiB is outside 1...65536")
        }
        guard (1...64).contains(cpus) else {
            throw MigrationError(.invalidArgument, "cpus \(cpus) is outside 1...64")
        }
        guard bootImage.hasPrefix("/"), !bootImage.contains(","), !bootImage.contains("\n") else {
            throw MigrationError(.invalidArgument, "boot image '\(bootImage)' must be an absolute path without commas")
        }
    }

    static func validateName(_ name: String, what: String) throws {
        let chars = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
        guard (1...40).contains(name.count), name.allSatisfy({ chars.contains($0) }), name.first != "-" else {
            throw MigrationError(.invalidArgument, "\(what) '\(name)' must be 1-40 characters of A-Z a-z 0-9 - _")
        }
    }
}
