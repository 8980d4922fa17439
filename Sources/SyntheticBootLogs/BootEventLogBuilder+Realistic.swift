import TPMWire

extension BootEventLogBuilder {
    /// A log shaped like a UEFI machine booting Xen with GRUB, SHA-1 and SHA-256 banks, started at locality 3:
    /// CRTM, firmware, configuration and separators in PCRs 0–7, the boot manager and GRUB in PCR 4, GRUB
    /// commands and the Xen/dom0 images in PCRs 8 and 9.
    package static func realistic() -> BootEventLogBuilder {
        var log = BootEventLogBuilder()
        log.startupLocality = 3
        for (pcr, type, text) in firmwareEvents { log.add(pcr: pcr, type: type, text) }
        for pcr: UInt32 in 0...7 { log.add(pcr: pcr, type: .separator, data: [0, 0, 0, 0]) }
        for (pcr, type, text) in bootEvents { log.add(pcr: pcr, type: type, text) }
        return log
    }

    /// Before the separators: the CRTM and firmware volumes, the handoff tables and the UEFI variables.
    static let firmwareEvents: [(UInt32, BootEventType, String)] = [
        (0, .sCRTMVersion, "EDK II firmware version 2023.11"),
        (0, .efiPlatformFirmwareBlob, "firmware volume FV_MAIN"),
        (0, .efiPlatformFirmwareBlob, "firmware volume FV_DXE"),
        (1, .efiHandoffTables, "SMBIOS handoff tables"),
        (1, .efiVariableBoot, "BootOrder 0001,0000"),
        (7, .efiVariableDriverConfig, "SecureBoot=1"),
        (7, .efiVariableDriverConfig, "PK"),
        (7, .efiVariableDriverConfig, "KEK"),
        (7, .efiVariableDriverConfig, "db"),
    ]

    /// After the separators: the boot manager starting shim and GRUB, the disk's GPT, GRUB's commands and the
    /// images it loads.
    static let bootEvents: [(UInt32, BootEventType, String)] = [
        (4, .efiAction, "Calling EFI Application from Boot Option"),
        (4, .efiBootServicesApplication, "\\EFI\\debian\\shimx64.efi"),
        (4, .efiBootServicesApplication, "\\EFI\\debian\\grubx64.efi"),
        (5, .efiGPTEvent, "GPT header and partitions"),
        (8, .ipl, "grub_cmd: multiboot2 /boot/xen-4.17-amd64.gz dom0_mem=4G"),
        (8, .ipl, "grub_cmd: module2 /boot/vmlinuz-6.1.0-28-amd64 root=/dev/sda1"),
        (9, .ipl, "/boot/xen-4.17-amd64.gz"),
        (9, .ipl, "/boot/vmlinuz-6.1.0-28-amd64"),
        (9, .ipl, "/boot/initrd.img-6.1.0-28-amd64"),
    ]
}
