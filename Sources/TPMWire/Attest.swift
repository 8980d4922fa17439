/// TPMS_CLOCK_INFO (TPM 2.0 Part 2, 10.11.1):
/// ```
/// typedef struct {
///     UINT64      clock;
///     UINT32      resetCount;
///     UINT32      restartCount;
///     TPMI_YES_NO safe;
/// } TPMS_CLOCK_INFO;
/// ```
public struct ClockInfo: Hashable, Sendable, Codable, WireCodable {
    public var clock: UInt64
    public var resetCount: UInt32
    public var restartCount: UInt32
    public var safe: Bool

    public init(clock: UInt64, resetCount: UInt32, restartCount: UInt32, safe: Bool) {
        self.clock = clock
        self.resetCount = resetCount
        self.restartCount = restartCount
        self.safe = safe
    }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        clock = try reader.readUInt64("TPMS_CLOCK_INFO.clock")
        resetCount = try reader.readUInt32("TPMS_CLOCK_INFO.resetCount")
        restartCount = try reader.readUInt32("TPMS_CLOCK_INFO.restartCount")
        let at = reader.offset
        switch try reader.readUInt8("TPMS_CLOCK_INFO.safe") {
        case 0: safe = false
        case 1: safe = true
        case let v: throw TPMWireError(.badValue, "TPMS_CLOCK_INFO.safe is \(v), not YES (1) or NO (0)", offset: at)
        }
    }

    public func marshal(into writer: inout WireWriter) {
        writer.write(clock)
        writer.write(resetCount)
        writer.write(restartCount)
        writer.write(UInt8(safe ? 1 : 0))
    }
}

/// TPMS_QUOTE_INFO (TPM 2.0 Part 2, 10.12.4):
/// ```
/// typedef struct {
///     TPML_PCR_SELECTION pcrSelect;
///     TPM2B_DIGEST       pcrDigest;
/// } TPMS_QUOTE_INFO;
/// ```
public struct QuoteInfo: Hashable, Sendable, WireCodable {
    public var pcrSelect: PCRSelectionList
    public var pcrDigest: [UInt8]

    public init(pcrSelect: PCRSelectionList, pcrDigest: [UInt8]) {
        self.pcrSelect = pcrSelect
        self.pcrDigest = pcrDigest
    }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        pcrSelect = try PCRSelectionList(unmarshalling: &reader)
        pcrDigest = try reader.readSized(maximum: DigestList.maximumDigestSize, "TPMS_QUOTE_INFO.pcrDigest")
    }

    public func marshal(into writer: inout WireWriter) {
        pcrSelect.marshal(into: &writer)
        writer.write(sized: pcrDigest)
    }
}

/// TPMS_ATTEST (TPM 2.0 Part 2, 10.12.12):
/// ```
/// typedef struct {
///     TPM_GENERATED   magic;
///     TPMI_ST_ATTEST  type;
///     TPM2B_NAME      qualifiedSigner;
///     TPM2B_DATA      extraData;
///     TPMS_CLOCK_INFO clockInfo;
///     UINT64          firmwareVersion;
///     TPMU_ATTEST     attested;
/// } TPMS_ATTEST;
/// ```
/// `magic` is kept as read (the verifier, not the parser, decides it must be TPM_GENERATED_VALUE). Only the
/// quote arm of TPMU_ATTEST is decoded; any other type keeps its bytes in `.other`.
public struct Attest: Hashable, Sendable, WireCodable {
    /// TPM_GENERATED_VALUE: 0xff 'T' 'C' 'G'.
    public static let generatedValue: UInt32 = 0xFF54_4347
    /// TPM_ST_ATTEST_QUOTE.
    public static let typeQuote: UInt16 = 0x8018
    /// sizeof(TPMS_ATTEST) in tpm2-tss: the largest TPM2B_ATTEST body a TPM can return.
    public static let maximumSize = 2304
    /// sizeof(TPMU_NAME): a TPMT_HA with SHA-512.
    public static let maximumNameSize = 66
    /// sizeof(TPMT_HA), the bound on TPM2B_DATA.
    public static let maximumDataSize = 66

    public enum Attested: Hashable, Sendable {
        case quote(QuoteInfo)
        case other([UInt8])
    }

    public var magic: UInt32
    public var type: UInt16
    public var qualifiedSigner: [UInt8]
    public var extraData: [UInt8]
    public var clockInfo: ClockInfo
    public var firmwareVersion: UInt64
    public var attested: Attested
    /// The exact bytes the TPM signed, as they were read (as `Public` keeps its publicArea's bytes): a signature
    /// is checked over these, never over a re-encoding of the fields. For a value built field by field, the
    /// encoding of those fields; changing a field afterwards does not change them.
    public let signedBytes: [UInt8]

    public init(
        magic: UInt32 = Attest.generatedValue, type: UInt16 = Attest.typeQuote, qualifiedSigner: [UInt8],
        extraData: [UInt8], clockInfo: ClockInfo, firmwareVersion: UInt64, attested: Attested
    ) {
        self.magic = magic
        self.type = type
        self.qualifiedSigner = qualifiedSigner
        self.extraData = extraData
        self.clockInfo = clockInfo
        self.firmwareVersion = firmwareVersion
        self.attested = attested
        var writer = WireWriter()
        Self.marshal(magic: magic, type: type, qualifiedSigner: qualifiedSigner, extraData: extraData, clockInfo: clockInfo,
                     firmwareVersion: firmwareVersion, attested: attested, into: &writer)
        signedBytes = writer.bytes
    }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        guard reader.remaining <= Self.maximumSize else {
            throw TPMWireError(.sizeTooLarge, "TPMS_ATTEST of \(reader.remaining) bytes exceeds \(Self.maximumSize)", offset: reader.offset)
        }
        let start = reader.bytes
        magic = try reader.readUInt32("TPMS_ATTEST.magic")
        type = try reader.readUInt16("TPMS_ATTEST.type")
        qualifiedSigner = try reader.readSized(maximum: Self.maximumNameSize, "TPMS_ATTEST.qualifiedSigner")
        extraData = try reader.readSized(maximum: Self.maximumDataSize, "TPMS_ATTEST.extraData")
        clockInfo = try ClockInfo(unmarshalling: &reader)
        firmwareVersion = try reader.readUInt64("TPMS_ATTEST.firmwareVersion")
        if type == Self.typeQuote {
            attested = .quote(try QuoteInfo(unmarshalling: &reader))
        } else {
            attested = .other(Array(try reader.readBytes(reader.remaining)))
        }
        signedBytes = Array(start.prefix(start.count - reader.remaining))
    }

    /// The encoding of the fields as they are now (see ``signedBytes`` for what was signed).
    public func marshal(into writer: inout WireWriter) {
        Self.marshal(magic: magic, type: type, qualifiedSigner: qualifiedSigner, extraData: extraData, clockInfo: clockInfo,
                     firmwareVersion: firmwareVersion, attested: attested, into: &writer)
    }

    static func marshal(magic: UInt32, type: UInt16, qualifiedSigner: [UInt8], extraData: [UInt8], clockInfo: ClockInfo,
                        firmwareVersion: UInt64, attested: Attested, into writer: inout WireWriter) {
        writer.write(magic)
        writer.write(type)
        writer.write(sized: qualifiedSigner)
        writer.write(sized: extraData)
        clockInfo.marshal(into: &writer)
        writer.write(firmwareVersion)
        switch attested {
        case .quote(let q): q.marshal(into: &writer)
        case .other(let raw): writer.write(raw: raw)
        }
    }

    public var quoteInfo: QuoteInfo? {
        if case .quote(let q) = attested { return q }
        return nil
    }
}
