/// A big-endian writer producing TPM 2.0 wire encodings.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    public mutating func write(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func write(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    public mutating func write(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }

    public mutating func write<C: Collection>(raw: C) where C.Element == UInt8 { bytes.append(contentsOf: raw) }

    /// A TPM2B: UINT16 size then the bytes. The caller guarantees `raw.count` fits the structure's maximum.
    public mutating func write<C: Collection>(sized raw: C) where C.Element == UInt8 {
        write(UInt16(truncatingIfNeeded: raw.count))
        bytes.append(contentsOf: raw)
    }
}

/// A TPM 2.0 structure with a wire encoding.
public protocol WireCodable: Sendable {
    init(unmarshalling reader: inout WireReader) throws(TPMWireError)
    func marshal(into writer: inout WireWriter)
}

extension WireCodable {
    /// Unmarshals a whole buffer; bytes left over are an error.
    public init(wireBytes: some Collection<UInt8>) throws(TPMWireError) {
        var reader = WireReader(Array(wireBytes))
        self = try Self(unmarshalling: &reader)
        try reader.expectEnd(String(describing: Self.self))
    }

    public var wireBytes: [UInt8] {
        var writer = WireWriter()
        marshal(into: &writer)
        return writer.bytes
    }
}
