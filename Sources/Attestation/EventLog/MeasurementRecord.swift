public import TPMWire
import Policy
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One extend of a runtime measurement into a PCR, in the TCG Canonical Event Log (CEL) JSON encoding.
///
/// ```json
/// {"recnum": 3, "pcr": 15,
///  "digests": [{"hashAlg": "sha256", "digest": "…"}],
///  "content_type": "smig_measurement",
///  "content": {"source": "process-text", "name": "process-text:/usr/bin/qemu-system-x86_64",
///              "instance": "4242", "measurement": "…", "value": null, "detail": "…"}}
/// ```
///
/// `recnum`, `pcr`, `digests`, `content_type` and `content` are CEL's; the content is ours (CEL reserves
/// content types per producer). Each digest is the bank's hash of ``canonicalContent``, so editing any field
/// of a record — the measurement digest, the name, the detail — breaks the record's own digest before the PCR
/// is even consulted. The PCR binds the record order.
public struct MeasurementRecord: Sendable, Hashable, Codable {
    public static let contentType = "smig_measurement"

    public struct Content: Sendable, Hashable, Codable {
        /// The measurement source kind (`file`, `process-text`, `kernel-modules`, `xen`, `boot-log`).
        public var source: String
        /// The measurement name, looked up in the golden values.
        public var name: String
        /// Which instance of the name this is (a PID for process text), or nil.
        public var instance: String?
        /// SHA-256 of the measured bytes, lower-case hex.
        public var measurement: String
        /// A self-reported value (e.g. the Xen build-id), when the source yields one.
        public var value: String?
        /// Human-readable detail (path, mapping count, size).
        public var detail: String

        public init(source: String, name: String, instance: String? = nil, measurement: String, value: String? = nil,
                    detail: String) {
            self.source = source
            self.name = name
            self.instance = instance
            self.measurement = measurement
            self.value = value
            self.detail = detail
        }

        /// The key under which "unchanged since the last extend" is decided: name plus instance.
        public var key: String { instance.map { "\(name)#\($0)" } ?? name }

        /// A measurement as a source takes it: the digest as bytes.
        public init(source: String, name: String, instance: String? = nil, sha256: [UInt8], value: String? = nil,
                    detail: String) {
            self.init(source: source, name: name, instance: instance, measurement: Hex.encode(sha256), value: value, detail: detail)
        }

        /// `measurement` as bytes (empty if it is not hex: a log record is checked before it is used).
        public var sha256: [UInt8] { Hex.decode(measurement) ?? [] }

        /// A measurement of a self-reported value: its digest is the SHA-256 of the value's UTF-8.
        public static func reported(source: String, name: String, value: String, detail: String) -> Content {
            Content(source: source, name: name, sha256: Digests.sha256(Array(value.utf8)), value: value, detail: detail)
        }
    }

    public struct Digest: Sendable, Hashable, Codable {
        public var hashAlg: String
        public var digest: String
        public init(hashAlg: String, digest: String) {
            self.hashAlg = hashAlg
            self.digest = digest
        }
    }

    public var recnum: Int
    public var pcr: Int
    public var digests: [Digest]
    public var contentType: String
    public var content: Content

    enum CodingKeys: String, CodingKey {
        case recnum, pcr, digests, content
        case contentType = "content_type"
    }

    /// Builds the record for `content`, with digests for `banks` over ``canonicalContent``; throws
    /// `wire.unsupported-algorithm` for a bank this toolkit does not compute.
    public init(recnum: Int, pcr: Int, content: Content, banks: [TPMAlgorithm] = [.sha256]) throws(TPMWireError) {
        self.recnum = recnum
        self.pcr = pcr
        self.contentType = Self.contentType
        self.content = content
        let canonical = Self.canonicalContent(content)
        var digests: [Digest] = []
        for bank in banks { digests.append(Digest(hashAlg: bank.name, digest: Hex.encode(try bank.hash(canonical)))) }
        self.digests = digests
    }

    /// The bytes whose digest is extended: a fixed tag and every content field, each NUL-terminated, with
    /// absent optionals distinguished from empty strings.
    public static func canonicalContent(_ content: Content) -> [UInt8] {
        var out = Array("smig-measurement/1\0".utf8)
        func field(_ text: String?) {
            guard let text else {
                out.append(0xFF)
                return
            }
            out.append(0x01)
            out.append(contentsOf: text.utf8)
            out.append(0)
        }
        field(content.source)
        field(content.name)
        field(content.instance)
        field(content.measurement)
        field(content.value)
        field(content.detail)
        return out
    }

    /// The digest extended into `bank`, decoded, if the record has one.
    public func digest(_ bank: TPMAlgorithm) -> [UInt8]? {
        digests.first { $0.hashAlg == bank.name }.flatMap { Hex.decode($0.digest) }
    }

    /// The measured SHA-256, decoded.
    public var measurementDigest: [UInt8]? { Hex.decode(content.measurement) }

    /// One JSON line (no trailing newline), keys sorted so the same record always encodes the same way.
    public func jsonLine() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings and integers cannot fail.
        return (try? Array(encoder.encode(self))) ?? []
    }

    /// Checks a decoded record's shape: a PCR in 0...23, known banks, hex digests of the right length,
    /// a SHA-256 measurement, and a CEL content type this log writes.
    func validate(offset: Int?) throws(EventLogError) {
        guard (0...23).contains(pcr) else {
            throw EventLogError(.badPCRIndex, "PCR \(pcr) is outside 0...23", offset: offset, record: recnum)
        }
        guard contentType == Self.contentType else {
            throw EventLogError(.malformedRecord, "content_type '\(contentType)' is not \(Self.contentType)",
                                offset: offset, record: recnum)
        }
        guard !digests.isEmpty else {
            throw EventLogError(.malformedRecord, "the record has no digests", offset: offset, record: recnum)
        }
        var seen: Set<String> = []
        for digest in digests {
            guard let bank = TPMAlgorithm(implementedHashName: digest.hashAlg), seen.insert(digest.hashAlg).inserted else {
                throw EventLogError(.malformedRecord, "unknown or repeated hashAlg '\(digest.hashAlg)'", offset: offset,
                                    record: recnum)
            }
            guard let bytes = Hex.decode(digest.digest), bytes.count == bank.digestSize else {
                throw EventLogError(.malformedRecord, "a \(bank.name) digest that is not \(bank.digestSize ?? 0) bytes of hex",
                                    offset: offset, record: recnum)
            }
        }
        guard let measured = measurementDigest, measured.count == 32 else {
            throw EventLogError(.malformedRecord, "the measurement is not a SHA-256 digest in hex", offset: offset,
                                record: recnum)
        }
    }
}

/// A measurement log as carried in evidence: CEL-JSON records, one per line, each line ending in `\n`.
public struct MeasurementLogRecords: Sendable, Hashable {
    public var records: [MeasurementRecord]

    public init(_ records: [MeasurementRecord]) { self.records = records }

    /// The JSON-lines encoding.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        for record in records {
            out.append(contentsOf: record.jsonLine())
            out.append(0x0A)
        }
        return out
    }

    /// The upper bound on one record line; longer lines are rejected before decoding.
    public static let maxLineLength = 64 << 10

    /// Parses JSON lines strictly: every line a valid record; the text must end with a newline (a missing one
    /// is a cut log); blank lines and bytes after the last newline are errors.
    public init(jsonLines bytes: [UInt8]) throws(EventLogError) {
        var records: [MeasurementRecord] = []
        var start = 0
        let decoder = JSONDecoder()
        while start < bytes.count {
            guard let newline = bytes[start...].firstIndex(of: 0x0A) else {
                throw EventLogError(.truncated, "the log ends inside a record (no final newline)", offset: start,
                                    record: records.count)
            }
            let line = bytes[start..<newline]
            guard !line.isEmpty, line.count <= Self.maxLineLength else {
                throw EventLogError(line.isEmpty ? .trailingData : .badLength,
                                    line.isEmpty ? "an empty line in the log" : "a record line longer than \(Self.maxLineLength) bytes",
                                    offset: start, record: records.count)
            }
            let record: MeasurementRecord
            do {
                record = try decoder.decode(MeasurementRecord.self, from: Data(line))
            } catch {
                throw EventLogError(.malformedRecord, "a line that is not a CEL-JSON measurement record", offset: start,
                                    record: records.count)
            }
            try record.validate(offset: start)
            records.append(record)
            start = newline + 1
        }
        self.records = records
    }
}
