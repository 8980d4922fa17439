/// The type of a TCG PC Client boot event (`UINT32 eventType` of TCG_PCR_EVENT and TCG_PCR_EVENT2).
///
/// From the TCG PC Client Platform Firmware Profile Specification, §10.4.1 (Event Types). Values this type
/// does not name are kept as they are and printed in hex.
public struct BootEventType: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let prebootCert = BootEventType(rawValue: 0x0000_0000)
    public static let postCode = BootEventType(rawValue: 0x0000_0001)
    public static let unused = BootEventType(rawValue: 0x0000_0002)
    /// Not extended into any PCR (Spec ID, StartupLocality, SP 800-155 and similar informational events).
    public static let noAction = BootEventType(rawValue: 0x0000_0003)
    public static let separator = BootEventType(rawValue: 0x0000_0004)
    public static let action = BootEventType(rawValue: 0x0000_0005)
    public static let eventTag = BootEventType(rawValue: 0x0000_0006)
    public static let sCRTMContents = BootEventType(rawValue: 0x0000_0007)
    public static let sCRTMVersion = BootEventType(rawValue: 0x0000_0008)
    public static let cpuMicrocode = BootEventType(rawValue: 0x0000_0009)
    public static let platformConfigFlags = BootEventType(rawValue: 0x0000_000A)
    public static let tableOfDevices = BootEventType(rawValue: 0x0000_000B)
    public static let compactHash = BootEventType(rawValue: 0x0000_000C)
    public static let ipl = BootEventType(rawValue: 0x0000_000D)
    public static let iplPartitionData = BootEventType(rawValue: 0x0000_000E)
    public static let nonhostCode = BootEventType(rawValue: 0x0000_000F)
    public static let nonhostConfig = BootEventType(rawValue: 0x0000_0010)
    public static let nonhostInfo = BootEventType(rawValue: 0x0000_0011)
    public static let omitBootDeviceEvents = BootEventType(rawValue: 0x0000_0012)
    public static let postCode2 = BootEventType(rawValue: 0x0000_0013)
    public static let efiVariableDriverConfig = BootEventType(rawValue: 0x8000_0001)
    public static let efiVariableBoot = BootEventType(rawValue: 0x8000_0002)
    public static let efiBootServicesApplication = BootEventType(rawValue: 0x8000_0003)
    public static let efiBootServicesDriver = BootEventType(rawValue: 0x8000_0004)
    public static let efiRuntimeServicesDriver = BootEventType(rawValue: 0x8000_0005)
    public static let efiGPTEvent = BootEventType(rawValue: 0x8000_0006)
    public static let efiAction = BootEventType(rawValue: 0x8000_0007)
    public static let efiPlatformFirmwareBlob = BootEventType(rawValue: 0x8000_0008)
    public static let efiHandoffTables = BootEventType(rawValue: 0x8000_0009)
    public static let efiPlatformFirmwareBlob2 = BootEventType(rawValue: 0x8000_000A)
    public static let efiHandoffTables2 = BootEventType(rawValue: 0x8000_000B)
    public static let efiVariableBoot2 = BootEventType(rawValue: 0x8000_000C)
    public static let efiGPTEvent2 = BootEventType(rawValue: 0x8000_000D)
    public static let efiHCRTMEvent = BootEventType(rawValue: 0x8000_0010)
    public static let efiVariableAuthority = BootEventType(rawValue: 0x8000_00E0)
    public static let efiSPDMFirmwareBlob = BootEventType(rawValue: 0x8000_00E1)
    public static let efiSPDMFirmwareConfig = BootEventType(rawValue: 0x8000_00E2)

    /// The event types of §10.4.1 with their spec names, in value order: the vocabulary of boot logs and of
    /// golden boot-event rules.
    public static let named: [(type: BootEventType, name: String)] = [
        (.prebootCert, "EV_PREBOOT_CERT"),
        (.postCode, "EV_POST_CODE"),
        (.unused, "EV_UNUSED"),
        (.noAction, "EV_NO_ACTION"),
        (.separator, "EV_SEPARATOR"),
        (.action, "EV_ACTION"),
        (.eventTag, "EV_EVENT_TAG"),
        (.sCRTMContents, "EV_S_CRTM_CONTENTS"),
        (.sCRTMVersion, "EV_S_CRTM_VERSION"),
        (.cpuMicrocode, "EV_CPU_MICROCODE"),
        (.platformConfigFlags, "EV_PLATFORM_CONFIG_FLAGS"),
        (.tableOfDevices, "EV_TABLE_OF_DEVICES"),
        (.compactHash, "EV_COMPACT_HASH"),
        (.ipl, "EV_IPL"),
        (.iplPartitionData, "EV_IPL_PARTITION_DATA"),
        (.nonhostCode, "EV_NONHOST_CODE"),
        (.nonhostConfig, "EV_NONHOST_CONFIG"),
        (.nonhostInfo, "EV_NONHOST_INFO"),
        (.omitBootDeviceEvents, "EV_OMIT_BOOT_DEVICE_EVENTS"),
        (.postCode2, "EV_POST_CODE2"),
        (.efiVariableDriverConfig, "EV_EFI_VARIABLE_DRIVER_CONFIG"),
        (.efiVariableBoot, "EV_EFI_VARIABLE_BOOT"),
        (.efiBootServicesApplication, "EV_EFI_BOOT_SERVICES_APPLICATION"),
        (.efiBootServicesDriver, "EV_EFI_BOOT_SERVICES_DRIVER"),
        (.efiRuntimeServicesDriver, "EV_EFI_RUNTIME_SERVICES_DRIVER"),
        (.efiGPTEvent, "EV_EFI_GPT_EVENT"),
        (.efiAction, "EV_EFI_ACTION"),
        (.efiPlatformFirmwareBlob, "EV_EFI_PLATFORM_FIRMWARE_BLOB"),
        (.efiHandoffTables, "EV_EFI_HANDOFF_TABLES"),
        (.efiPlatformFirmwareBlob2, "EV_EFI_PLATFORM_FIRMWARE_BLOB2"),
        (.efiHandoffTables2, "EV_EFI_HANDOFF_TABLES2"),
        (.efiVariableBoot2, "EV_EFI_VARIABLE_BOOT2"),
        (.efiGPTEvent2, "EV_EFI_GPT_EVENT2"),
        (.efiHCRTMEvent, "EV_EFI_HCRTM_EVENT"),
        (.efiVariableAuthority, "EV_EFI_VARIABLE_AUTHORITY"),
        (.efiSPDMFirmwareBlob, "EV_EFI_SPDM_FIRMWARE_BLOB"),
        (.efiSPDMFirmwareConfig, "EV_EFI_SPDM_FIRMWARE_CONFIG"),
    ]

    /// The spec name (`EV_SEPARATOR`), or nil for a type this build does not name.
    public var name: String? { Self.named.first { $0.type == self }?.name }

    /// The spec name, or the raw value in hex (`0x80000042`).
    public var description: String { name ?? "0x" + String(rawValue, radix: 16) }

    /// Parses a spec name (`EV_SEPARATOR`, case-insensitive, `EV_` optional) or a number (`0x80000003`, `4`).
    public init?(name text: String) {
        let upper = text.uppercased()
        if let named = Self.named.first(where: { $0.name == upper || $0.name == "EV_" + upper }) {
            self = named.type
        } else if upper.hasPrefix("0X"), let value = UInt32(upper.dropFirst(2), radix: 16) {
            self.init(rawValue: value)
        } else if let value = UInt32(upper) {
            self.init(rawValue: value)
        } else {
            return nil
        }
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}
