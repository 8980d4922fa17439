public import TPMWire
import Yams

/// What a good hypervisor looks like: allowed digests or values per measurement name, which measurements
/// must be present, and allowed PCR values (typically the boot PCRs 0–9).
///
/// ```yaml
/// kind: golden-values
/// version: 1
/// name: debian-12-xen-4.17
/// measurements:
///   "xen:build-id":
///     values: [151b373fd64b321593bf987fd923cd10dabadac4]
///     required: true
///   "file:/boot/xen-4.17-amd64.gz":
///     sha256: [3051d3934d8bd1cec1b2e0c950ab9ebe958e1753fe3dd45b43fc870893189fe4]
///   "kernel-module:*":                # a trailing * matches any name with that prefix
///     sha256: [...]
/// pcrs:
///   sha256:
///     0: [<64 hex digits>, ...]
/// boot-events:                        # events of the host's boot log, see GoldenBootEvent
///   - pcr: 4
///     type: EV_EFI_BOOT_SERVICES_APPLICATION
///     description-contains: xen
///     sha256: [<64 hex digits>]
/// ```
public struct GoldenValues: Sendable, Hashable {
    /// One measurement name's allowed results.
    public struct Entry: Sendable, Hashable {
        /// The measurement name, or a prefix pattern ending in `*`.
        public var name: String
        /// Allowed SHA-256 digests of the measured bytes.
        public var sha256: [[UInt8]]
        /// Allowed reported values (for self-reported measurements such as the Xen build-id).
        public var values: [String]
        /// Whether a verdict must find this measurement in the log.
        public var required: Bool
        /// Where the entry starts in its file (line, column), for messages.
        public var line: Int
        public var column: Int

        public init(name: String, sha256: [[UInt8]] = [], values: [String] = [], required: Bool = false,
                    line: Int = 0, column: Int = 0) {
            self.name = name
            self.sha256 = sha256
            self.values = values
            self.required = required
            self.line = line
            self.column = column
        }

        public var isPattern: Bool { name.hasSuffix("*") }

        public func matchesName(_ measurementName: String) -> Bool {
            isPattern ? measurementName.hasPrefix(String(name.dropLast())) : name == measurementName
        }

        /// Whether a measured digest (and optional reported value) is allowed by this entry.
        public func allows(sha256 digest: [UInt8], value: String?) -> Bool {
            if sha256.contains(digest) { return true }
            if let value, values.contains(value) { return true }
            return false
        }
    }

    public var name: String
    public var description: String?
    public var entries: [Entry]
    /// Allowed values per bank and PCR index. A PCR not listed is not constrained.
    public var pcrs: [TPMAlgorithm: [Int: [[UInt8]]]]
    /// Rules for events of the host's boot log.
    public var bootEvents: [GoldenBootEvent]

    public init(name: String, description: String? = nil, entries: [Entry] = [],
                pcrs: [TPMAlgorithm: [Int: [[UInt8]]]] = [:], bootEvents: [GoldenBootEvent] = []) {
        self.name = name
        self.description = description
        self.entries = entries
        self.pcrs = pcrs
        self.bootEvents = bootEvents
    }

    /// The entry for a measurement name: an exact name wins over the longest matching pattern.
    public func entry(for measurementName: String) -> Entry? {
        if let exact = entries.first(where: { !$0.isPattern && $0.name == measurementName }) { return exact }
        return entries.filter { $0.isPattern && $0.matchesName(measurementName) }
            .max { $0.name.count < $1.name.count }
    }

    public var requiredNames: [String] { entries.filter(\.required).map(\.name) }

    static let kind = "golden-values"
    static let topKeys = ["kind", "version", "name", "description", "measurements", "pcrs", "boot-events"]
    static let entryKeys = ["sha256", "values", "required", "comment"]

    /// The measurement names a golden file may use: what the measurement sources produce, with a trailing `*`
    /// for patterns. A misspelt prefix (`fiel:`) would otherwise be a rule that never matches anything.
    static let measurementNamePrefixes = ["file:/", "process-text:/", "xen:", "boot-log:", "kernel-module:"]
    static let measurementNames = ["boot-log", "kernel-modules"]

    /// A name a source produces, or a pattern (`…*`) that can match one: `file:*` and `file:/usr/*` both are.
    static func isKnownMeasurementName(_ name: String) -> Bool {
        let isPattern = name.hasSuffix("*")
        let stem = isPattern ? String(name.dropLast()) : name
        if measurementNames.contains(stem) || measurementNamePrefixes.contains(where: { stem.hasPrefix($0) }) { return true }
        return isPattern && !stem.isEmpty && measurementNamePrefixes.contains { $0.hasPrefix(stem) }
    }

    /// One entry of `measurements:`. Errors of single digests or values are added to `problems` (the entry is
    /// then left out); an error of the entry as a whole is thrown.
    static func entry(name: String, keyNode: Node, value: Node, source: PolicySource,
                      problems: inout [PolicyError]) throws(PolicyError) -> Entry? {
        if name.isEmpty || name.dropLast().contains("*") {
            throw source.error(.badValue, at: keyNode, "measurement name '\(name)' is not valid",
                               hint: "use a measurement name such as 'file:/boot/xen.gz'; '*' only at the end")
        }
        if name.hasPrefix("process-text:pid=") {
            throw source.error(.badValue, at: keyNode, "measurement name '\(name)' is bound to one process id",
                               hint: "a PID changes with every start: name the executable, e.g. 'process-text:/usr/bin/qemu-system-x86_64'")
        }
        guard isKnownMeasurementName(name) else {
            let prefix = name.split(separator: ":", maxSplits: 1).first.map(String.init) ?? name
            throw source.error(.badValue, at: keyNode, "measurement name '\(name)' has an unknown source prefix '\(prefix)'",
                               hint: "names start with \(measurementNamePrefixes.map { "'\($0)'" }.joined(separator: ", ")) or are \(measurementNames.map { "'\($0)'" }.joined(separator: ", "))")
        }
        let fields = try source.mapping(value, what: "measurement '\(name)'", allowed: Self.entryKeys)
        var entry = Entry(name: name, line: keyNode.mark?.line ?? 0, column: keyNode.mark?.column ?? 0)
        // Sets beside the ordered lists keep the duplicate checks linear (lists of 100k digests occur
        // when every build of a fleet's history stays allowed).
        var seenDigests: Set<DigestKey> = []
        var seenValues: Set<String> = []
        let before = problems.count
        if let digests = fields["sha256"] {
            for (_, item) in try source.stringList(digests, what: "sha256 of '\(name)'") {
                do throws(PolicyError) {
                    let digest = try source.digest(item, algorithm: .sha256, what: "sha256 digest of '\(name)'")
                    if !seenDigests.insert(DigestKey(digest)).inserted {
                        throw source.error(.duplicateEntry, at: item, "digest listed twice for '\(name)'",
                                           hint: "remove the repeated line")
                    }
                    entry.sha256.append(digest)
                } catch {
                    problems.append(error)
                }
            }
        }
        if let values = fields["values"] {
            for (text, item) in try source.stringList(values, what: "values of '\(name)'") {
                if !seenValues.insert(text).inserted {
                    problems.append(source.error(.duplicateEntry, at: item, "value listed twice for '\(name)'",
                                                 hint: "remove the repeated line"))
                    continue
                }
                entry.values.append(text)
            }
        }
        if let required = fields["required"] {
            entry.required = try source.bool(required, what: "required")
        }
        if let comment = fields["comment"] { _ = try source.string(comment, what: "comment") }
        guard problems.count == before else { return nil }
        if entry.sha256.isEmpty && entry.values.isEmpty {
            throw source.error(.missingKey, at: value, "measurement '\(name)' allows nothing",
                               hint: "give 'sha256: [<64 hex digits>]' or 'values: [...]'")
        }
        if entry.required && entry.isPattern {
            throw source.error(.inconsistent, at: keyNode, "a pattern ('\(name)') cannot be required",
                               hint: "list the required measurements by their full names")
        }
        return entry
    }

    /// Decodes a golden-values document strictly (see ``PolicyError``).
    public init(yaml text: String, file: String) throws(PolicyError) {
        let source = PolicySource(file: file)
        try self.init(node: try source.compose(text), source: source)
    }

    init(node: Node, source: PolicySource) throws(PolicyError) {
        let top = try source.mapping(node, what: "the golden-values document", allowed: Self.topKeys)
        try PolicyDocument.checkHeader(top, expectedKind: Self.kind, source: source)
        name = try source.nonEmptyString(try top.required("name", hint: "name the golden set, e.g. name: debian-12-xen-4.17"),
                                         what: "name")
        description = try top["description"].map { node throws(PolicyError) in try source.string(node, what: "description") }

        // Every independent error is collected (an entry, a digest, a PCR, a boot-event rule at a time), so one
        // check shows them all; what follows a broken structure (a list that is not a list) is skipped.
        var problems: [PolicyError] = []
        func attempt(_ body: () throws(PolicyError) -> Void) {
            do throws(PolicyError) { try body() } catch { problems.append(error) }
        }

        var entries: [Entry] = []
        if let measurementsNode = top["measurements"] {
            attempt { () throws(PolicyError) in
                let measurements = try source.mapping(measurementsNode, what: "measurements", allowed: [])
                for (name, keyNode, value) in measurements.pairs {
                    attempt { () throws(PolicyError) in
                        if let entry = try Self.entry(name: name, keyNode: keyNode, value: value, source: source, problems: &problems) {
                            entries.append(entry)
                        }
                    }
                }
            }
        }
        self.entries = entries

        var pcrs: [TPMAlgorithm: [Int: [[UInt8]]]] = [:]
        if let pcrsNode = top["pcrs"] { pcrs = Self.pcrs(pcrsNode, source: source, problems: &problems) }
        self.pcrs = pcrs

        var bootEvents: [GoldenBootEvent] = []
        if let eventsNode = top["boot-events"] {
            attempt { () throws(PolicyError) in
                for item in try source.sequence(eventsNode, what: "boot-events") {
                    attempt { () throws(PolicyError) in bootEvents.append(try GoldenBootEvent(node: item, source: source)) }
                }
            }
        }
        self.bootEvents = bootEvents
        if let error = PolicyError.combined(problems) { throw error }
        if entries.isEmpty && pcrs.isEmpty && bootEvents.isEmpty {
            throw source.error(.missingKey, at: node, "the golden values allow nothing",
                               hint: "add 'measurements:', 'pcrs:' or 'boot-events:'")
        }
    }

    /// `pcrs:`: the allowed values per bank and PCR. Each error is collected in `problems` (a bank, a PCR, a value
    /// at a time); what follows a broken structure is skipped.
    static func pcrs(_ pcrsNode: Node, source: PolicySource, problems: inout [PolicyError]) -> [TPMAlgorithm: [Int: [[UInt8]]]] {
        func attempt(_ body: () throws(PolicyError) -> Void) {
            do throws(PolicyError) { try body() } catch { problems.append(error) }
        }
        var pcrs: [TPMAlgorithm: [Int: [[UInt8]]]] = [:]
        attempt { () throws(PolicyError) in
            let banks = try source.mapping(pcrsNode, what: "pcrs", allowed: TPMAlgorithm.implementedHashes.map(\.name))
            for (bankName, _, bankNode) in banks.pairs {
                guard let bank = TPMAlgorithm(hashName: bankName) else { continue }
                attempt { () throws(PolicyError) in
                    let indices = try source.mapping(bankNode, what: "pcrs.\(bankName)", allowed: [])
                    var table: [Int: [[UInt8]]] = [:]
                    for (_, keyNode, valueNode) in indices.pairs {
                        attempt { () throws(PolicyError) in
                            let index = try source.int(keyNode, what: "PCR index", range: 0...23)
                            if table[index] != nil {
                                throw source.error(.duplicateKey, at: keyNode, "PCR \(index) is listed twice in bank \(bankName)",
                                                   hint: "merge the two lists of allowed values")
                            }
                            var allowed: [[UInt8]] = []
                            var seen: Set<[UInt8]> = []
                            let before = problems.count
                            for (_, item) in try source.stringList(valueNode, what: "allowed values of PCR \(index)") {
                                attempt { () throws(PolicyError) in
                                    let value = try source.digest(item, algorithm: bank, what: "PCR \(index) value")
                                    if !seen.insert(value).inserted {
                                        throw source.error(.duplicateEntry, at: item, "value listed twice for PCR \(index)",
                                                           hint: "remove the repeated line")
                                    }
                                    allowed.append(value)
                                }
                            }
                            if allowed.isEmpty && problems.count == before {
                                throw source.error(.missingKey, at: valueNode, "PCR \(index) allows no value",
                                                   hint: "list at least one \((bank.digestSize ?? 0) * 2)-hex-digit value, or remove the PCR")
                            }
                            table[index] = allowed
                        }
                    }
                    pcrs[bank] = table
                }
            }
        }
        return pcrs
    }
}

/// A digest as a set element, hashed as one block of bytes (an `[UInt8]` hashes byte by byte, which dominated the
/// duplicate check of long digest lists).
struct DigestKey: Hashable {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func hash(into hasher: inout Hasher) { bytes.withUnsafeBytes { hasher.combine(bytes: $0) } }
}
