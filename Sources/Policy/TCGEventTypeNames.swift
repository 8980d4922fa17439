/// The event type names of the TCG PC Client Platform Firmware Profile (§10.4.1), with their values: the
/// vocabulary golden boot-event rules are written in (Attestation's `BootEventType` names its values from here).
public enum TCGEventTypeNames {
    public static let all: [(value: UInt32, name: String)] = [
        (0x0000_0000, "EV_PREBOOT_CERT"),
        (0x0000_0001, "EV_POST_CODE"),
        (0x0000_0002, "EV_UNUSED"),
        (0x0000_0003, "EV_NO_ACTION"),
        (0x0000_0004, "EV_SEPARATOR"),
        (0x0000_0005, "EV_ACTION"),
        (0x0000_0006, "EV_EVENT_TAG"),
        (0x0000_0007, "EV_S_CRTM_CONTENTS"),
        (0x0000_0008, "EV_S_CRTM_VERSION"),
        (0x0000_0009, "EV_CPU_MICROCODE"),
        (0x0000_000A, "EV_PLATFORM_CONFIG_FLAGS"),
        (0x0000_000B, "EV_TABLE_OF_DEVICES"),
        (0x0000_000C, "EV_COMPACT_HASH"),
        (0x0000_000D, "EV_IPL"),
        (0x0000_000E, "EV_IPL_PARTITION_DATA"),
        (0x0000_000F, "EV_NONHOST_CODE"),
        (0x0000_0010, "EV_NONHOST_CONFIG"),
        (0x0000_0011, "EV_NONHOST_INFO"),
        (0x0000_0012, "EV_OMIT_BOOT_DEVICE_EVENTS"),
        (0x0000_0013, "EV_POST_CODE2"),
        (0x8000_0001, "EV_EFI_VARIABLE_DRIVER_CONFIG"),
        (0x8000_0002, "EV_EFI_VARIABLE_BOOT"),
        (0x8000_0003, "EV_EFI_BOOT_SERVICES_APPLICATION"),
        (0x8000_0004, "EV_EFI_BOOT_SERVICES_DRIVER"),
        (0x8000_0005, "EV_EFI_RUNTIME_SERVICES_DRIVER"),
        (0x8000_0006, "EV_EFI_GPT_EVENT"),
        (0x8000_0007, "EV_EFI_ACTION"),
        (0x8000_0008, "EV_EFI_PLATFORM_FIRMWARE_BLOB"),
        (0x8000_0009, "EV_EFI_HANDOFF_TABLES"),
        (0x8000_000A, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"),
        (0x8000_000B, "EV_EFI_HANDOFF_TABLES2"),
        (0x8000_000C, "EV_EFI_VARIABLE_BOOT2"),
        (0x8000_000D, "EV_EFI_GPT_EVENT2"),
        (0x8000_0010, "EV_EFI_HCRTM_EVENT"),
        (0x8000_00E0, "EV_EFI_VARIABLE_AUTHORITY"),
        (0x8000_00E1, "EV_EFI_SPDM_FIRMWARE_BLOB"),
        (0x8000_00E2, "EV_EFI_SPDM_FIRMWARE_CONFIG"),
    ]

    public static func name(of value: UInt32) -> String? { all.first { $0.value == value }?.name }

    public static func value(of name: String) -> UInt32? { all.first { $0.name == name }?.value }
}
