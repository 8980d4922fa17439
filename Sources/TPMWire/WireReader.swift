/// A bounds-checked big-endian reader over untrusted bytes, in the manner of swift-asn1's parser.
///
/// Every read throws `TPMWireError` (`.truncated`) when the buffer is short; nothing here traps.
/// Offsets in errors count from the start of the slice the reader was created with.
public struct WireReader: Sendable {
    public private(set) var bytes: ArraySlice<UInt8>
    private let origin: Int

    public init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.origin = bytes.startIndex
    }

    public init(_ bytes: [UInt8]) {
        self.init(bytes[...])
    }

    /// Byte offset of the next read, from the start of the buffer.
    public var offset: Int { bytes.startIndex - origin }
    public var remaining: Int { bytes.count }
    public var isAtEnd: Bool { bytes.isEmpty }

    public mutating func readBytes(_ count: Int, what: @autoclosure () -> String = "bytes") throws(TPMWireError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count else {
            throw TPMWireError(.truncated, "\(what()): need \(count) bytes, \(bytes.count) left", offset: offset)
        }
        let result = bytes.prefix(count)
        bytes = bytes.dropFirst(count)
        return result
    }

    public mutating func readUInt8(_ what: @autoclosure () -> String = "UINT8") throws(TPMWireError) -> UInt8 {
        let b = try readBytes(1, what: what())
        return b[b.startIndex]
    }

    public mutating func readUInt16(_ what: @autoclosure () -> String = "UINT16") throws(TPMWireError) -> UInt16 {
        let b = try readBytes(2, what: what())
        var value: UInt16 = 0
        for byte in b { value = value << 8 | UInt16(byte) }
        return value
    }

    public mutating func readUInt32(_ what: @autoclosure () -> String = "UINT32") throws(TPMWireError) -> UInt32 {
        let b = try readBytes(4, what: what())
        var value: UInt32 = 0
        for byte in b { value = value << 8 | UInt32(byte) }
        return value
    }

    public mutating func readUInt64(_ what: @autoclosure () -> String = "UINT64") throws(TPMWireError) -> UInt64 {
        let b = try readBytes(8, what: what())
        var value: UInt64 = 0
        for byte in b { value = value << 8 | UInt64(byte) }
        return value
    }

    /// A TPM2B: a UINT16 size followed by that many bytes, with `maximum` from the specification.
    public mutating func readSized(maximum: Int, _ what: @autoclosure () -> String) throws(TPMWireError) -> [UInt8] {
        let at = offset
        let size = Int(try readUInt16("\(what()).size"))
        guard size <= maximum else {
            throw TPMWireError(.sizeTooLarge, "\(what()).size \(size) exceeds the maximum \(maximum)", offset: at)
        }
        return Array(try readBytes(size, what: what()))
    }

    /// Throws `.trailingBytes` unless every byte has been read.
    public func expectEnd(_ what: @autoclosure () -> String) throws(TPMWireError) {
        guard bytes.isEmpty else {
            throw TPMWireError(.trailingBytes, "\(bytes.count) bytes after \(what())", offset: offset)
        }
    }
}
