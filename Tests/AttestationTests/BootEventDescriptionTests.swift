import Attestation
import TPMWire
import Testing

@Suite("Boot event descriptions")
struct BootEventDescriptionTests {
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
