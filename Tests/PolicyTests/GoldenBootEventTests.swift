import Policy
import TPMWire
import Testing

let goldenWithBootEvents = """
kind: golden-values
version: 1
name: boot-events
boot-events:
  - pcr: 4
    type: EV_EFI_BOOT_SERVICES_APPLICATION
    description-contains: Xen
    sha256: [\(digestA)]
  - pcr: 8
    sha1: [\(String(repeating: "1", count: 40))]
    required: false

"""

@Suite("Golden boot-event rules")
struct GoldenBootEventTests {
    @Test func decodes() throws {
        let golden = try GoldenValues(yaml: goldenWithBootEvents, file: "g.yaml")
        #expect(golden.bootEvents.count == 2)
        let xen = golden.bootEvents[0]
        #expect(xen.pcr == 4 && xen.eventType == .efiBootServicesApplication && xen.descriptionContains == "xen")
        #expect(xen.bank == .sha256 && xen.digests == [[UInt8](repeating: 0xAA, count: 32)] && xen.required)
        #expect(xen.line == 5 && xen.column == 5)
        #expect(golden.bootEvents[1].bank == .sha1 && !golden.bootEvents[1].required && golden.bootEvents[1].eventType == nil)
    }

    /// Every accepted spelling of a type reads as the same typed value, and the rule's label names it by its
    /// spec name.
    @Test(arguments: ["EV_EFI_BOOT_SERVICES_APPLICATION", "ev_efi_boot_services_application", "EFI_BOOT_SERVICES_APPLICATION",
                      "0x80000003", "2147483651"])
    func typeSpellings(_ spelling: String) throws {
        let yaml = replacing(goldenWithBootEvents, "EV_EFI_BOOT_SERVICES_APPLICATION", spelling)
        let rule = try GoldenValues(yaml: yaml, file: "g.yaml").bootEvents[0]
        #expect(rule.eventType == .efiBootServicesApplication)
        #expect(rule.label == "PCR 4 EV_EFI_BOOT_SERVICES_APPLICATION containing 'xen' (golden line 5)")
    }

    /// A number the spec does not name is kept as it is and labelled in hex.
    @Test func unnamedTypeNumber() throws {
        let yaml = replacing(goldenWithBootEvents, "EV_EFI_BOOT_SERVICES_APPLICATION", "0x80000042")
        let rule = try GoldenValues(yaml: yaml, file: "g.yaml").bootEvents[0]
        #expect(rule.eventType == BootEventType(rawValue: 0x8000_0042))
        #expect(rule.label == "PCR 4 0x80000042 containing 'xen' (golden line 5)")
    }

    static let broken: [(String, String, PolicyError.Code, String)] = [
        ("unknown key", replacing(goldenWithBootEvents, "description-contains: Xen", "description: Xen"), .unknownKey,
         "bad.yaml:7:5: error: unknown key 'description'"),
        ("PCR out of range", replacing(goldenWithBootEvents, "pcr: 4", "pcr: 24"), .outOfRange, "bad.yaml:5:10: error:"),
        ("not an event type", replacing(goldenWithBootEvents, "EV_EFI_BOOT_SERVICES_APPLICATION", "bootloader"), .badValue,
         "bad.yaml:6:11: error: boot event type 'bootloader' is not a TCG event type"),
        ("misspelt event type", replacing(goldenWithBootEvents, "EV_EFI_BOOT_SERVICES_APPLICATION", "EV_EFI_BOOT_SERVICE_APPLICATION"),
         .badValue, "bad.yaml:6:11: error: boot event type 'EV_EFI_BOOT_SERVICE_APPLICATION' is not a TCG event type (hint: did you mean 'EV_EFI_BOOT_SERVICES_APPLICATION'?)"),
        ("two banks", replacing(goldenWithBootEvents, "    required: false", "    sha256: [\(digestA)]"), .inconsistent,
         "bad.yaml:9:5: error: a boot-events entry needs exactly one digest list"),
        ("no bank", replacing(goldenWithBootEvents, "    sha256: [\(digestA)]\n", ""), .missingKey,
         "bad.yaml:5:5: error: a boot-events entry needs exactly one digest list"),
        ("short digest", replacing(goldenWithBootEvents, "sha256: [\(digestA)]", "sha256: [abcd]"), .badDigestLength,
         "bad.yaml:8:14: error:"),
        ("not a list", replacing(goldenWithBootEvents, "boot-events:\n  - pcr: 4", "boot-events:\n  pcr: 4"), .yamlSyntax,
         "bad.yaml:"),
    ]

    @Test(arguments: 0..<broken.count)
    func brokenFilesNameFileLineColumn(_ index: Int) {
        let (label, yaml, code, prefix) = Self.broken[index]
        let error = #expect(throws: PolicyError.self, "\(label)") { try GoldenValues(yaml: yaml, file: "bad.yaml") }
        #expect(error?.code == code, "\(label): \(String(describing: error))")
        #expect(error?.description.hasPrefix(prefix) == true, "\(label): \(String(describing: error))")
    }
}
