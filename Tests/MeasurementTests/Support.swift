import TPMWire
import Attestation
import Foundation
import Swtpm
import Policy
import Testing

@testable import Measurement

/// Builds TCG PC Client crypto-agile boot logs (TCG_PCR_EVENT + Spec ID event, then TCG_PCR_EVENT2s).
struct BootLogBuilder {
    struct Event {
        var pcr: UInt32
        var type: UInt32
        var data: [UInt8]
    }

    var algorithms: [TPMAlgorithm] = [.sha1, .sha256]
    var events: [Event] = []
    var startupLocality: UInt8?

    static func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
    static func le16(_ value: UInt16) -> [UInt8] { (0..<2).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

    mutating func add(pcr: UInt32, type: UInt32, _ text: String) {
        events.append(Event(pcr: pcr, type: type, data: Array(text.utf8)))
    }

    func specIDEvent() -> [UInt8] {
        var spec = Array("Spec ID Event03\0".utf8)
        spec += Self.le32(0)  // platformClass: client
        spec += [0, 2, 0, 2]  // minor 0, major 2, errata 0, uintnSize 2 (UINT64)
        spec += Self.le32(UInt32(algorithms.count))
        for algorithm in algorithms {
            spec += Self.le16(algorithm.rawValue) + Self.le16(UInt16(algorithm.digestSize ?? 0))
        }
        spec += [0]  // vendorInfoSize
        return spec
    }

    func bytes() -> [UInt8] {
        let spec = specIDEvent()
        var out = Self.le32(0) + Self.le32(0x3) + [UInt8](repeating: 0, count: 20) + Self.le32(UInt32(spec.count)) + spec
        var all = events
        if let startupLocality {
            all.insert(Event(pcr: 0, type: 0x3, data: Array("StartupLocality\0".utf8) + [startupLocality]), at: 0)
        }
        for event in all {
            out += Self.le32(event.pcr) + Self.le32(event.type) + Self.le32(UInt32(algorithms.count))
            for algorithm in algorithms {
                let digest = event.type == 0x3 ? [UInt8](repeating: 0, count: algorithm.digestSize ?? 0)
                                               : ((try? algorithm.hash(event.data)) ?? [])  // tests use implemented banks only
                out += Self.le16(algorithm.rawValue) + digest
            }
            out += Self.le32(UInt32(event.data.count)) + event.data
        }
        return out
    }

    /// A log shaped like a UEFI machine booting Xen with GRUB: CRTM, firmware, configuration, separators in
    /// PCRs 0–7, the boot manager and GRUB in PCR 4, GRUB commands and the Xen/dom0 images in PCRs 8 and 9.
    static func realistic() -> BootLogBuilder {
        var builder = BootLogBuilder()
        builder.startupLocality = 3
        builder.add(pcr: 0, type: 0x8, "EDK II firmware version 2023.11")  // EV_S_CRTM_VERSION
        builder.add(pcr: 0, type: 0x8000_0008, "firmware volume FV_MAIN")  // EV_EFI_PLATFORM_FIRMWARE_BLOB
        builder.add(pcr: 0, type: 0x8000_0008, "firmware volume FV_DXE")
        builder.add(pcr: 1, type: 0x8000_0009, "SMBIOS handoff tables")  // EV_EFI_HANDOFF_TABLES
        builder.add(pcr: 1, type: 0x8000_0002, "BootOrder 0001,0000")  // EV_EFI_VARIABLE_BOOT
        builder.add(pcr: 7, type: 0x8000_0001, "SecureBoot=1")  // EV_EFI_VARIABLE_DRIVER_CONFIG
        builder.add(pcr: 7, type: 0x8000_0001, "PK")
        builder.add(pcr: 7, type: 0x8000_0001, "KEK")
        builder.add(pcr: 7, type: 0x8000_0001, "db")
        for pcr: UInt32 in 0...7 { builder.add(pcr: pcr, type: 0x4, "\0\0\0\0") }  // EV_SEPARATOR
        builder.add(pcr: 4, type: 0x8000_0007, "Calling EFI Application from Boot Option")  // EV_EFI_ACTION
        builder.add(pcr: 4, type: 0x8000_0003, "\\EFI\\debian\\shimx64.efi")  // EV_EFI_BOOT_SERVICES_APPLICATION
        builder.add(pcr: 4, type: 0x8000_0003, "\\EFI\\debian\\grubx64.efi")
        builder.add(pcr: 5, type: 0x8000_0006, "GPT header and partitions")  // EV_EFI_GPT_EVENT
        builder.add(pcr: 8, type: 0xD, "grub_cmd: multiboot2 /boot/xen-4.17-amd64.gz dom0_mem=4G")  // EV_IPL
        builder.add(pcr: 8, type: 0xD, "grub_cmd: module2 /boot/vmlinuz-6.1.0-28-amd64 root=/dev/sda1")
        builder.add(pcr: 9, type: 0xD, "/boot/xen-4.17-amd64.gz")
        builder.add(pcr: 9, type: 0xD, "/boot/vmlinuz-6.1.0-28-amd64")
        builder.add(pcr: 9, type: 0xD, "/boot/initrd.img-6.1.0-28-amd64")
        return builder
    }
}

/// A directory under /tmp, removed when the test ends.
final class TemporaryDirectory {
    let path: String
    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smig-meas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = "\(path)/\(name)"
        let directory = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// Whether CI demands that external tools (qemu, swtpm) be present.
var runningInCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

/// Looks a tool up on PATH.
func which(_ tool: String) -> String? { Executables.which(tool) }

func measurement(_ name: String, _ fill: UInt8, source: String = "file", instance: String? = nil,
                 value: String? = nil) -> NamedMeasurement {
    NamedMeasurement(source: source, name: name, instance: instance, sha256: [UInt8](repeating: fill, count: 32),
                value: value, detail: "test")
}

let hexA = String(repeating: "a", count: 64)
