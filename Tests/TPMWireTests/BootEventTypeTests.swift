import Testing
import TPMWire

@Suite("Boot event types")
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

    /// Every spec name reads back as its type, and the table names each value once.
    @Test func everyNameRoundTrips() {
        for (type, name) in BootEventType.named {
            #expect(BootEventType(name: name) == type && type.name == name && type.description == name)
        }
        #expect(Set(BootEventType.named.map(\.type)).count == BootEventType.named.count)
        #expect(Set(BootEventType.named.map(\.name)).count == BootEventType.named.count)
    }
}
