import Attestation
import Testing

@Suite("Boot event types and descriptions")
struct BootEventTypeTests {
    @Test func namesAndValues() {
        #expect(BootEventType.separator.description == "EV_SEPARATOR")
        #expect(BootEventType.efiBootServicesApplication.rawValue == 0x8000_0003)
        #expect(BootEventType(rawValue: 0x8000_0042).name == nil)
        #expect(BootEventType(rawValue: 0x8000_0042).description == "0x80000042")
        #expect(BootEventType(name: "EV_IPL") == .ipl)
        #expect(BootEventType(name: "efi_action") == .efiAction)
        #expect(BootEventType(name: "0x80000003") == .efiBootServicesApplication)
        #expect(BootEventType(name: "4") == .separator)
        #expect(BootEventType(name: "EV_NOT_A_TYPE") == nil)
        #expect(BootEventType(name: "0xZZ") == nil)
    }

    @Test func descriptionsOfRealEvents() throws {
        let log = try BootEventLog(bytes: try RealBootLog.load("glinux-alex").bytes)
        #expect(log.events[0].dataDescription == "Spec ID Event03")
        #expect(log.events[1].dataDescription == "StartupLocality 3")
        #expect(log.events[2].dataDescription == "FIT Type 0x02 Measured S-CRTM")
        let grub = try #require(log.events.last)
        #expect(grub.eventType == .efiBootServicesApplication)
        #expect(grub.dataDescription.contains("\\EFI\\DEBIAN\\GRUBX64.EFI"))
        let sp800155 = try BootEventLog(bytes: try RealBootLog.load("eventlogwithsp800155").bytes)
        #expect(sp800155.events.contains { $0.dataDescription == "SP800-155 Event3" })
        // Binary data without text is described by its size.
        let separator = try #require(log.events.first { $0.eventType == .separator })
        #expect(separator.dataDescription == "4 bytes")
    }
}
