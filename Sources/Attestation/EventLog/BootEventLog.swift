public import TPMWire

/// A TCG PC Client platform firmware event log (`binary_bios_measurements`), in either of its two formats.
///
/// **Crypto-agile** (TCG PC Client Platform Firmware Profile, §10.2): a first SHA-1-format event carrying the
/// Spec ID event, then TCG_PCR_EVENT2 records with one digest per declared bank.
///
/// ```c
/// typedef struct tdTCG_PCR_EVENT {        // every event of a TCG 1.2 log; the first event of an agile log
///     UINT32        pcrIndex;
///     UINT32        eventType;
///     BYTE          digest[20];           // SHA-1 (zeros in the Spec ID event)
///     UINT32        eventDataSize;
///     BYTE          event[eventDataSize];
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
/// typedef struct tdTCG_PCR_EVENT2 {       // every following event of an agile log
///     UINT32             pcrIndex;
///     UINT32             eventType;
///     TPML_DIGEST_VALUES digests;         // UINT32 count; { UINT16 hashAlg; BYTE digest[size]; }[count]
///     UINT32             eventSize;
///     BYTE               event[eventSize];
/// } TCG_PCR_EVENT2;
/// ```
///
/// **TCG 1.2 / SHA-1** (TCG PC Client Specific Implementation Specification for Conventional BIOS): every event
/// is a TCG_PCR_EVENT; the log has no Spec ID Event03 and a single SHA-1 bank. Firmware of TPM 2.0 machines
/// still writes this format when it does not speak the agile one (older UEFI, some hypervisors).
///
/// Zero bytes after the last event are padding and accepted; anything else after the last event is an error.
/// Every error names the event index (the first event is 0) and the byte offset in the log.
public struct BootEventLog: Sendable, Hashable {
    public enum Format: String, Sendable, Hashable {
        /// TCG_PCR_EVENT2 records after a Spec ID Event03.
        case cryptoAgile = "crypto-agile"
        /// TCG_PCR_EVENT records only (TCG 1.2, SHA-1).
        case sha1 = "sha1"
    }

    public struct AlgorithmSize: Sendable, Hashable {
        public var algorithm: TPMAlgorithm
        public var digestSize: Int

        public init(algorithm: TPMAlgorithm, digestSize: Int) {
            self.algorithm = algorithm
            self.digestSize = digestSize
        }
    }

    public struct Digest: Sendable, Hashable {
        public var algorithm: TPMAlgorithm
        public var bytes: [UInt8]
    }

    public struct Event: Sendable, Hashable {
        /// Index of the event in the log (the first event, a Spec ID event included, is 0).
        public var index: Int
        /// Byte offset of the event in the log.
        public var offset: Int
        /// Encoded size of the event in bytes.
        public var size: Int
        public var pcrIndex: Int
        public var eventType: BootEventType
        /// Digests in log order.
        public var digests: [Digest]
        public var eventData: [UInt8]

        public func digest(_ algorithm: TPMAlgorithm) -> [UInt8]? {
            digests.first { $0.algorithm == algorithm }?.bytes
        }

        /// EV_NO_ACTION events are informational: never extended (TCG PC Client, §10.4.1).
        public var extends: Bool { eventType != .noAction }

        /// The signature of an EV_NO_ACTION event ("StartupLocality", "SP800-155 Event3", "Spec ID Event03", …),
        /// or nil for other events.
        public var noActionSignature: String? {
            guard eventType == .noAction, eventData.count >= 16 else { return nil }
            let signature = eventData.prefix(16).prefix { $0 != 0 }
            guard !signature.isEmpty, signature.allSatisfy({ (0x20..<0x7F).contains($0) }) else { return nil }
            return String(decoding: signature, as: UTF8.self)
        }
    }

    /// Limits from the PC Client spec and TPM 2.0 Part 2 (HASH_COUNT): they bound every allocation.
    public static let maxAlgorithms = 16
    public static let maxDigestSize = 64
    public static let maxEventSize = 16 << 20

    public var format: Format
    /// From the Spec ID event; 0 for a SHA-1 log.
    public var platformClass: UInt32
    /// From the Spec ID event; 1.2 for a SHA-1 log.
    public var specVersion: SpecVersion
    /// From the Spec ID event; 0 for a SHA-1 log.
    public var uintnSize: UInt8
    /// The banks the Spec ID event declares (in its order); SHA-1 alone for a SHA-1 log.
    public var algorithms: [AlgorithmSize]
    /// The locality from a StartupLocality EV_NO_ACTION event (sets PCR 0's initial value), if any.
    public var startupLocality: UInt8?
    /// Every event, the Spec ID event of an agile log included (it is event 0 and is not extended).
    public var events: [Event]
    /// Zero bytes after the last event.
    public var paddingBytes: Int

    public struct SpecVersion: Sendable, Hashable, CustomStringConvertible {
        public var major: UInt8
        public var minor: UInt8
        public var errata: UInt8
        public var description: String { "\(major).\(minor) errata \(errata)" }
    }

    /// Parses a whole log.
    public init(bytes: [UInt8]) throws(EventLogError) {
        var reader = LittleEndianReader(bytes[...], origin: 0)
        if let spec = try Self.readSpecIDEvent(bytes) {
            format = .cryptoAgile
            platformClass = spec.platformClass
            specVersion = spec.version
            uintnSize = spec.uintnSize
            algorithms = spec.algorithms
            _ = try reader.readBytes(spec.size, "the Spec ID event")
            events = [spec.event]
        } else {
            format = .sha1
            platformClass = 0
            specVersion = SpecVersion(major: 1, minor: 2, errata: 0)
            uintnSize = 0
            algorithms = [AlgorithmSize(algorithm: .sha1, digestSize: 20)]
            events = []
        }

        var locality: UInt8?
        while !reader.isAtEnd {
            if reader.restIsZero { break }
            let index = events.count
            let start = reader.offset
            let event: Event
            do throws(EventLogError) {
                event = format == .cryptoAgile
                    ? try Self.readEvent2(&reader, algorithms: algorithms, index: index)
                    : try Self.readEvent1(&reader, index: index)
            } catch {
                var located = error
                located.record = index
                if located.offset == nil { located.offset = start }
                throw located
            }
            if event.noActionSignature == "StartupLocality", event.pcrIndex == 0, event.eventData.count == 17 {
                guard locality == nil, !events.contains(where: { $0.pcrIndex == 0 && $0.extends }) else {
                    throw EventLogError(.badStartupLocality,
                                        "a StartupLocality event after the first extend of PCR 0, or a second one",
                                        offset: start, record: index)
                }
                locality = event.eventData[16]
            }
            events.append(event)
        }
        paddingBytes = reader.remaining
        startupLocality = locality
    }

    /// The Spec ID event if the log starts with one, nil for a SHA-1 log.
    private static func readSpecIDEvent(_ bytes: [UInt8]) throws(EventLogError) -> (
        event: Event, size: Int, platformClass: UInt32, version: SpecVersion, uintnSize: UInt8, algorithms: [AlgorithmSize]
    )? {
        // A first event that is EV_NO_ACTION in PCR 0 whose data starts "Spec ID Event03\0" opens an agile log.
        let signature = Array("Spec ID Event03\0".utf8)
        guard bytes.count >= 32 + 16, bytes[0..<4].allSatisfy({ $0 == 0 }), bytes[4..<8] == [3, 0, 0, 0][...],
              Array(bytes[32..<48]) == signature
        else { return nil }
        var reader = LittleEndianReader(bytes[...], origin: 0)
        do throws(EventLogError) {
            _ = try reader.readUInt32("the Spec ID event's pcrIndex")
            _ = try reader.readUInt32("the Spec ID event's eventType")
            _ = try reader.readBytes(20, "the Spec ID event's digest")
            let sizeOffset = reader.offset
            let size = Int(try reader.readUInt32("the Spec ID event's eventDataSize"))
            guard size <= 16 + 12 + 4 + maxAlgorithms * 4 + 1 + 255 else {
                throw EventLogError(.badLength, "Spec ID event size \(size) is too large", offset: sizeOffset)
            }
            let data = try reader.readBytes(size, "the Spec ID event")
            var spec = LittleEndianReader(data, origin: 0)
            _ = try spec.readBytes(16, "the Spec ID signature")
            let platformClass = try spec.readUInt32("platformClass")
            let minor = try spec.readUInt8("specVersionMinor")
            let major = try spec.readUInt8("specVersionMajor")
            let errata = try spec.readUInt8("specErrata")
            let uintnSize = try spec.readUInt8("uintnSize")
            guard major == 2 else {
                throw EventLogError(.unsupportedFormat, "Spec ID version \(major).\(minor) is not 2.x", offset: 32 + 21)
            }
            let countOffset = spec.offset
            let count = Int(try spec.readUInt32("numberOfAlgorithms"))
            guard (1...maxAlgorithms).contains(count) else {
                throw EventLogError(.badLength, "numberOfAlgorithms \(count) is outside 1...\(maxAlgorithms)",
                                    offset: countOffset)
            }
            var algorithms: [AlgorithmSize] = []
            for _ in 0..<count {
                let at = spec.offset
                let algorithm = TPMAlgorithm(rawValue: try spec.readUInt16("algorithmId"))
                let size = Int(try spec.readUInt16("digestSize"))
                guard (1...maxDigestSize).contains(size) else {
                    throw EventLogError(.badLength, "digest size \(size) for algorithm \(algorithm)", offset: at)
                }
                if let known = algorithm.digestSize, known != size {
                    throw EventLogError(.badLength, "\(algorithm) declared with \(size)-byte digests", offset: at)
                }
                guard !algorithms.contains(where: { $0.algorithm == algorithm }) else {
                    throw EventLogError(.digestListMismatch, "algorithm \(algorithm) declared twice", offset: at)
                }
                algorithms.append(AlgorithmSize(algorithm: algorithm, digestSize: size))
            }
            let vendorSize = Int(try spec.readUInt8("vendorInfoSize"))
            _ = try spec.readBytes(vendorSize, "vendorInfo")
            guard spec.isAtEnd else {
                throw EventLogError(.trailingData, "\(spec.remaining) bytes after the Spec ID event's vendorInfo",
                                    offset: spec.offset)
            }
            let event = Event(index: 0, offset: 0, size: reader.offset, pcrIndex: 0, eventType: .noAction,
                              digests: [Digest(algorithm: .sha1, bytes: Array(bytes[8..<28]))], eventData: Array(data))
            return (event, reader.offset, platformClass, SpecVersion(major: major, minor: minor, errata: errata),
                    uintnSize, algorithms)
        } catch {
            var located = error
            located.record = 0
            throw located
        }
    }

    /// TCG_PCR_EVENT (SHA-1 format).
    private static func readEvent1(_ reader: inout LittleEndianReader, index: Int) throws(EventLogError) -> Event {
        let start = reader.offset
        let pcr = try readPCRIndex(&reader)
        let type = BootEventType(rawValue: try reader.readUInt32("an event's eventType"))
        let digest = Array(try reader.readBytes(20, "an event's SHA-1 digest"))
        let data = try readEventData(&reader)
        return Event(index: index, offset: start, size: reader.offset - start, pcrIndex: pcr, eventType: type,
                     digests: [Digest(algorithm: .sha1, bytes: digest)], eventData: data)
    }

    /// TCG_PCR_EVENT2 (crypto-agile format): one digest per declared algorithm, each once.
    private static func readEvent2(_ reader: inout LittleEndianReader, algorithms: [AlgorithmSize],
                                   index: Int) throws(EventLogError) -> Event {
        let start = reader.offset
        let pcr = try readPCRIndex(&reader)
        let type = BootEventType(rawValue: try reader.readUInt32("an event's eventType"))
        let countOffset = reader.offset
        let digestCount = Int(try reader.readUInt32("an event's digest count"))
        guard digestCount == algorithms.count else {
            throw EventLogError(.digestListMismatch,
                                "the event has \(digestCount) digests; the Spec ID event declares \(algorithms.count)",
                                offset: countOffset)
        }
        var digests: [Digest] = []
        for _ in 0..<digestCount {
            let at = reader.offset
            let algorithm = TPMAlgorithm(rawValue: try reader.readUInt16("a digest's hashAlg"))
            guard let declared = algorithms.first(where: { $0.algorithm == algorithm }),
                  !digests.contains(where: { $0.algorithm == algorithm })
            else {
                throw EventLogError(.digestListMismatch, "digest algorithm \(algorithm) is undeclared or repeated",
                                    offset: at)
            }
            digests.append(Digest(algorithm: algorithm, bytes: Array(try reader.readBytes(declared.digestSize, "a digest"))))
        }
        let data = try readEventData(&reader)
        return Event(index: index, offset: start, size: reader.offset - start, pcrIndex: pcr, eventType: type,
                     digests: digests, eventData: data)
    }

    private static func readPCRIndex(_ reader: inout LittleEndianReader) throws(EventLogError) -> Int {
        let at = reader.offset
        let pcr = try reader.readUInt32("an event's pcrIndex")
        guard pcr <= 23 else {
            throw EventLogError(.badPCRIndex, "PCR index \(pcr) is outside 0...23", offset: at)
        }
        return Int(pcr)
    }

    private static func readEventData(_ reader: inout LittleEndianReader) throws(EventLogError) -> [UInt8] {
        let at = reader.offset
        let size = Int(try reader.readUInt32("an event's eventSize"))
        guard size <= maxEventSize else {
            throw EventLogError(.badLength, "event size \(size) is too large", offset: at)
        }
        return Array(try reader.readBytes(size, "an event's data"))
    }

    /// The events that extend a PCR (every event but EV_NO_ACTION).
    public var extendingEvents: [Event] { events.filter(\.extends) }

    /// PCRs the log extends (or sets, for PCR 0 with a StartupLocality event).
    public var extendedPCRs: Set<Int> {
        var pcrs = Set(extendingEvents.map(\.pcrIndex))
        if startupLocality != nil { pcrs.insert(0) }
        return pcrs
    }
}
