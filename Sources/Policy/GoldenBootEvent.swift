public import TPMWire
import Yams

/// A golden rule for boot events: the events of the host's boot log in `pcr` (of `eventType`, whose data
/// description contains `descriptionContains`) must have one of the allowed digests in `bank`.
///
/// ```yaml
/// boot-events:
///   - pcr: 4
///     type: EV_EFI_BOOT_SERVICES_APPLICATION  # a TCG name (any case, EV_ optional) or a number: 0x80000003
///     description-contains: xen          # case-insensitive; matched against the event's text or UEFI path
///     sha256: [<64 hex digits>, ...]     # exactly one of sha1, sha256, sha384, sha512
///     required: true                     # default true: a matching event must be in the log
/// ```
public struct GoldenBootEvent: Sendable, Hashable {
    public var pcr: Int
    /// The event type (written as a spec name, `EV_IPL`, or a number, `0x80000003`); nil matches any type.
    public var eventType: BootEventType?
    /// Lower-cased; nil matches any event.
    public var descriptionContains: String?
    public var bank: TPMAlgorithm
    public var digests: [[UInt8]]
    public var required: Bool
    public var line: Int
    public var column: Int

    public init(pcr: Int, eventType: BootEventType? = nil, descriptionContains: String? = nil, bank: TPMAlgorithm,
                digests: [[UInt8]], required: Bool = true, line: Int = 0, column: Int = 0) {
        self.pcr = pcr
        self.eventType = eventType
        self.descriptionContains = descriptionContains?.lowercased()
        self.bank = bank
        self.digests = digests
        self.required = required
        self.line = line
        self.column = column
    }

    /// How the rule reads in messages: `PCR 4 EV_EFI_BOOT_SERVICES_APPLICATION containing 'xen' (golden line 12)`.
    public var label: String {
        var text = "PCR \(pcr)"
        if let eventType { text += " \(eventType)" }
        if let descriptionContains { text += " containing '\(descriptionContains)'" }
        return text + " (golden line \(line))"
    }

    static let keys = ["pcr", "type", "description-contains", "required", "comment"] + TPMAlgorithm.implementedHashes.map(\.name)

    init(node: Node, source: PolicySource) throws(PolicyError) {
        let fields = try source.mapping(node, what: "a boot-events entry", allowed: Self.keys)
        pcr = try source.int(try fields.required("pcr", hint: "the PCR the event extends, e.g. pcr: 4"), what: "pcr",
                             range: 0...23)
        if let typeNode = fields["type"] {
            let text = try source.nonEmptyString(typeNode, what: "type")
            guard let type = BootEventType(name: text) else {
                let suggestion = PolicySource.suggestion(for: text.uppercased(), among: BootEventType.named.map(\.name))
                throw source.error(.badValue, at: typeNode, "boot event type '\(text)' is not a TCG event type",
                                   hint: suggestion.hasPrefix("did you mean")
                                       ? suggestion
                                       : "use a TCG name such as EV_EFI_BOOT_SERVICES_APPLICATION or EV_IPL, or a number")
            }
            eventType = type
        } else {
            eventType = nil
        }
        descriptionContains = try fields["description-contains"].map { node throws(PolicyError) in
            try source.nonEmptyString(node, what: "description-contains").lowercased()
        }
        let banks = TPMAlgorithm.implementedHashes.filter { fields[$0.name] != nil }
        guard banks.count == 1, let bank = banks.first, let digestsNode = fields[bank.name] else {
            throw source.error(banks.isEmpty ? .missingKey : .inconsistent, at: node,
                               "a boot-events entry needs exactly one digest list (sha1, sha256, sha384 or sha512)",
                               hint: "e.g. sha256: [<64 hex digits>]")
        }
        self.bank = bank
        var digests: [[UInt8]] = []
        for (_, item) in try source.stringList(digestsNode, what: "\(bank.name) digests") {
            let digest = try source.digest(item, algorithm: bank, what: "\(bank.name) digest of a boot event")
            if digests.contains(digest) {
                throw source.error(.duplicateEntry, at: item, "digest listed twice", hint: "remove the repeated line")
            }
            digests.append(digest)
        }
        if digests.isEmpty {
            throw source.error(.missingKey, at: digestsNode, "the boot-events entry allows no digest",
                               hint: "list at least one \((bank.digestSize ?? 0) * 2)-hex-digit digest")
        }
        self.digests = digests
        required = try fields["required"].map { node throws(PolicyError) in try source.bool(node, what: "required") } ?? true
        if let comment = fields["comment"] { _ = try source.string(comment, what: "comment") }
        line = node.mark?.line ?? 0
        column = node.mark?.column ?? 0
    }
}
