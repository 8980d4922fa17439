public import Policy

/// A TCG PC Client platform firmware event log in the crypto-agile format (`binary_bios_measurements`).
///
/// From the TCG PC Client Platform Firmware Profile Specification, §10.2:
///
/// ```c
/// typedef struct tdTCG_PCR_EVENT {        // the first event, SHA-1 format
///     UINT32        pcrIndex;
///     UINT32        eventType;            // EV_NO_ACTION
///     BYTE          digest[20];           // zeros
///     UINT32        eventDataSize;
///     BYTE          event[eventDataSize]; // TCG_EfiSpecIdEvent
/// } TCG_PCR_EVENT;
///
/// typedef struct tdTCG_EfiSpecIdEvent {
///     BYTE   signature[16];               // "Spec ID Event03\0"
///     UINT32 platformClass;
///     UINT8  specVersionMinor, specVersionMajor, specErrata;
///     UINT8  uintnSize;
///     UINT32 numberOfAlgorithms;
///     TCG_EfiSpecIdEventAlgorithmSize digestSizes[numberOfAlgorithms]; // { UINT16 algorithmId; UINT16 digestSize; }
///     UINT8  vendorInfoSize;
///     BYTE   vendorInfo[vendorInfoSize];
/// } TCG_EfiSpecIDEvent;
///
/// typedef struct tdTCG_PCR_EVENT2 {       // every following event
///     UINT32             pcrIndex;
///     UINT32             eventType;
///     TPML_DIGEST_VALUES digests;         // UINT32 count; { UINT16 hashAlg; BYTE digest[size]; }[count]
///     UINT32             eventSize;
///     BYTE               event[eventSize];
/// } TCG_PCR_EVENT2;
/// ```
public struct BootEventLog: Sendable, Hashable {
    public struct AlgorithmSize: Sendable, Hashable {
        public var algorithmID: UInt16
        public var digestSize: Int
    }

    public struct Event: Sendable, Hashable {
        /// Index of the event in the log (the Spec ID event is 0).
        public var index: Int
        /// Byte offset of the event in the log.
        public var offset: Int
        public var pcrIndex: Int
        public var eventType: UInt32
        /// Digests in log order: (TPM_ALG_ID, digest).
        public var digests: [(algorithmID: UInt16, digest: [UInt8])]
        public var eventData: [UInt8]

        public static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.index == rhs.index && lhs.offset == rhs.offset && lhs.pcrIndex == rhs.pcrIndex
                && lhs.eventType == rhs.eventType && lhs.eventData == rhs.eventData
                && lhs.digests.map(\.algorithmID) == rhs.digests.map(\.algorithmID)
                && lhs.digests.map(\.digest) == rhs.digests.map(\.digest)
        }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(offset)
            hasher.combine(eventData)
        }

        public func digest(_ bank: HashAlgorithm) -> [UInt8]? {
            digests.first { $0.algorithmID == bank.tpmAlgorithmID }?.digest
        }

        public var typeName: String { BootEventLog.eventTypeName(eventType) }
    }

    /// Limits from the PC Client spec and TPM 2.0 Part 2 (HASH_COUNT): they bound every allocation.
    public static let maxAlgorithms = 16
    public static let maxDigestSize = 64
    public static let maxEventSize = 16 << 20

    public static let evNoAction: UInt32 = 0x0000_0003
    public static let evSeparator: UInt32 = 0x0000_0004

    public var platformClass: UInt32
    public var specVersion: (major: UInt8, minor: UInt8, errata: UInt8)
    public var uintnSize: UInt8
    public var algorithms: [AlgorithmSize]
    /// The locality from a StartupLocality EV_NO_ACTION event (sets PCR 0's initial value), if any.
    public var startupLocality: UInt8?
    /// Every event after the Spec ID event.
    public var events: [Event]

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.platformClass == rhs.platformClass && lhs.algorithms == rhs.algorithms && lhs.events == rhs.events
            && lhs.startupLocality == rhs.startupLocality
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(events) }

    /// Parses a whole log; trailing bytes that do not form an event are an error.
    public init(bytes: [UInt8]) throws(EventLogError) {
        var reader = LittleEndianReader(bytes[...])

        // TCG_PCR_EVENT carrying TCG_EfiSpecIdEvent.
        let firstPCR = try reader.readUInt32("the first event's pcrIndex")
        let firstType = try reader.readUInt32("the first event's eventType")
        _ = try reader.readBytes(20, "the first event's SHA-1 digest")
        let firstSize = Int(try reader.readUInt32("the first event's eventDataSize"))
        guard firstPCR == 0, firstType == Self.evNoAction else {
            throw EventLogError(.missingSpecIDEvent, "the first event is not EV_NO_ACTION in PCR 0", offset: 0, record: 0)
        }
        guard firstSize <= Self.maxEventSize else {
            throw EventLogError(.badLength, "Spec ID event size \(firstSize) is too large", offset: 28, record: 0)
        }
        var spec = LittleEndianReader(try reader.readBytes(firstSize, "the Spec ID event"))
        let specBase = 32
        let signature = Array(try spec.readBytes(16, "the Spec ID signature"))
        if signature == Array("Spec ID Event00\0".utf8) || signature == Array("Spec ID Event02\0".utf8) {
            throw EventLogError(.unsupportedFormat, "a SHA-1-only (TCG 1.2) event log; only crypto-agile logs are read",
                                offset: specBase, record: 0)
        }
        guard signature == Array("Spec ID Event03\0".utf8) else {
            throw EventLogError(.missingSpecIDEvent, "the first event has no 'Spec ID Event03' signature",
                                offset: specBase, record: 0)
        }
        platformClass = try spec.readUInt32("platformClass")
        let minor = try spec.readUInt8("specVersionMinor")
        let major = try spec.readUInt8("specVersionMajor")
        let errata = try spec.readUInt8("specErrata")
        specVersion = (major, minor, errata)
        uintnSize = try spec.readUInt8("uintnSize")
        guard major == 2 else {
            throw EventLogError(.unsupportedFormat, "Spec ID version \(major).\(minor) is not 2.x", offset: specBase + 20,
                                record: 0)
        }
        let count = Int(try spec.readUInt32("numberOfAlgorithms"))
        guard (1...Self.maxAlgorithms).contains(count) else {
            throw EventLogError(.badLength, "numberOfAlgorithms \(count) is outside 1...\(Self.maxAlgorithms)",
                                offset: specBase + 24, record: 0)
        }
        var algorithms: [AlgorithmSize] = []
        for _ in 0..<count {
            let at = specBase + spec.offset
            let id = try spec.readUInt16("algorithmId")
            let size = Int(try spec.readUInt16("digestSize"))
            guard (1...Self.maxDigestSize).contains(size) else {
                throw EventLogError(.badLength, "digest size \(size) for algorithm 0x\(String(id, radix: 16))", offset: at,
                                    record: 0)
            }
            if let known = HashAlgorithm(tpmAlgorithmID: id), known.digestSize != size {
                throw EventLogError(.badLength, "\(known.rawValue) declared with \(size)-byte digests", offset: at, record: 0)
            }
            guard !algorithms.contains(where: { $0.algorithmID == id }) else {
                throw EventLogError(.digestListMismatch, "algorithm 0x\(String(id, radix: 16)) declared twice", offset: at,
                                    record: 0)
            }
            algorithms.append(AlgorithmSize(algorithmID: id, digestSize: size))
        }
        self.algorithms = algorithms
        let vendorSize = Int(try spec.readUInt8("vendorInfoSize"))
        _ = try spec.readBytes(vendorSize, "vendorInfo")
        guard spec.isAtEnd else {
            throw EventLogError(.trailingData, "\(spec.remaining) bytes after the Spec ID event's vendorInfo",
                                offset: specBase + spec.offset, record: 0)
        }

        // TCG_PCR_EVENT2 records.
        var events: [Event] = []
        var locality: UInt8?
        while !reader.isAtEnd {
            let start = reader.offset
            let index = events.count + 1
            let pcr = try reader.readUInt32("an event's pcrIndex")
            guard pcr <= 23 else {
                throw EventLogError(.badPCRIndex, "PCR index \(pcr) is outside 0...23", offset: start, record: index)
            }
            let type = try reader.readUInt32("an event's eventType")
            let digestCount = Int(try reader.readUInt32("an event's digest count"))
            guard digestCount == algorithms.count else {
                throw EventLogError(.digestListMismatch,
                                    "event has \(digestCount) digests; the Spec ID event declares \(algorithms.count)",
                                    offset: start + 8, record: index)
            }
            var digests: [(algorithmID: UInt16, digest: [UInt8])] = []
            for _ in 0..<digestCount {
                let at = reader.offset
                let id = try reader.readUInt16("a digest's hashAlg")
                guard let declared = algorithms.first(where: { $0.algorithmID == id }),
                      !digests.contains(where: { $0.algorithmID == id })
                else {
                    throw EventLogError(.digestListMismatch,
                                        "digest algorithm 0x\(String(id, radix: 16)) is undeclared or repeated",
                                        offset: at, record: index)
                }
                digests.append((id, Array(try reader.readBytes(declared.digestSize, "a digest"))))
            }
            let sizeOffset = reader.offset
            let size = Int(try reader.readUInt32("an event's eventSize"))
            guard size <= Self.maxEventSize else {
                throw EventLogError(.badLength, "event size \(size) is too large", offset: sizeOffset, record: index)
            }
            let data = Array(try reader.readBytes(size, "an event's data"))
            if type == Self.evNoAction, pcr == 0, data.count == 17, data.prefix(16) == Array("StartupLocality\0".utf8)[...] {
                locality = data[16]
            }
            events.append(Event(index: index, offset: start, pcrIndex: Int(pcr), eventType: type, digests: digests,
                                eventData: data))
        }
        self.events = events
        self.startupLocality = locality
    }

    /// Replays every extending event into the banks the log declares and this build can compute.
    ///
    /// Returns values for PCRs 0...23 (unextended ones at their reset value). EV_NO_ACTION events are not
    /// extended; a StartupLocality event sets PCR 0's initial value.
    public func replay() -> PCRBanks {
        var banks = PCRBanks()
        for algorithm in algorithms {
            guard let bank = HashAlgorithm(tpmAlgorithmID: algorithm.algorithmID) else { continue }
            var table: [Int: [UInt8]] = [:]
            for pcr in 0...23 { table[pcr] = PCRBanks.resetValue(bank) }
            if let startupLocality {
                var initial = PCRBanks.resetValue(bank)
                initial[initial.count - 1] = startupLocality
                table[0] = initial
            }
            for event in events where event.eventType != Self.evNoAction {
                guard let digest = event.digest(bank), let old = table[event.pcrIndex] else { continue }
                table[event.pcrIndex] = PCRBanks.extend(old, with: digest, bank: bank)
            }
            banks.values[bank] = table
        }
        return banks
    }

    /// The PCRs (among `pcrs`) whose replayed value differs from the quoted one, per bank present in both.
    public func mismatches(against quoted: PCRBanks, pcrs: ClosedRange<Int> = 0...9) -> [(bank: HashAlgorithm, pcr: Int,
                                                                                          expected: [UInt8], quoted: [UInt8])] {
        let replayed = replay()
        var out: [(bank: HashAlgorithm, pcr: Int, expected: [UInt8], quoted: [UInt8])] = []
        for bank in replayed.values.keys.sorted() {
            for pcr in pcrs {
                guard let value = quoted[bank, pcr], let expected = replayed[bank, pcr] else { continue }
                if value != expected { out.append((bank, pcr, expected, value)) }
            }
        }
        return out
    }

    static func eventTypeName(_ type: UInt32) -> String {
        switch type {
        case 0x0000_0000: "EV_PREBOOT_CERT"
        case 0x0000_0001: "EV_POST_CODE"
        case 0x0000_0003: "EV_NO_ACTION"
        case 0x0000_0004: "EV_SEPARATOR"
        case 0x0000_0005: "EV_ACTION"
        case 0x0000_0006: "EV_EVENT_TAG"
        case 0x0000_0007: "EV_S_CRTM_CONTENTS"
        case 0x0000_0008: "EV_S_CRTM_VERSION"
        case 0x0000_0009: "EV_CPU_MICROCODE"
        case 0x0000_000A: "EV_PLATFORM_CONFIG_FLAGS"
        case 0x0000_000B: "EV_TABLE_OF_DEVICES"
        case 0x0000_000C: "EV_COMPACT_HASH"
        case 0x0000_000D: "EV_IPL"
        case 0x0000_000E: "EV_IPL_PARTITION_DATA"
        case 0x0000_000F: "EV_NONHOST_CODE"
        case 0x0000_0010: "EV_NONHOST_CONFIG"
        case 0x0000_0011: "EV_NONHOST_INFO"
        case 0x0000_0012: "EV_OMIT_BOOT_DEVICE_EVENTS"
        case 0x8000_0001: "EV_EFI_VARIABLE_DRIVER_CONFIG"
        case 0x8000_0002: "EV_EFI_VARIABLE_BOOT"
        case 0x8000_0003: "EV_EFI_BOOT_SERVICES_APPLICATION"
        case 0x8000_0004: "EV_EFI_BOOT_SERVICES_DRIVER"
        case 0x8000_0005: "EV_EFI_RUNTIME_SERVICES_DRIVER"
        case 0x8000_0006: "EV_EFI_GPT_EVENT"
        case 0x8000_0007: "EV_EFI_ACTION"
        case 0x8000_0008: "EV_EFI_PLATFORM_FIRMWARE_BLOB"
        case 0x8000_0009: "EV_EFI_HANDOFF_TABLES"
        case 0x8000_000A: "EV_EFI_PLATFORM_FIRMWARE_BLOB2"
        case 0x8000_000B: "EV_EFI_HANDOFF_TABLES2"
        case 0x8000_0010: "EV_EFI_HCRTM_EVENT"
        case 0x8000_00E0: "EV_EFI_VARIABLE_AUTHORITY"
        default: "0x" + String(type, radix: 16)
        }
    }
}
