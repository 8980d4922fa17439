/// A bounds-checked little-endian reader over untrusted bytes (the TCG PC Client event log is little-endian).
///
/// Every read checks the remaining length first and throws ``EventLogError/Code/truncated`` with the offset;
/// nothing here can trap or allocate more than the input holds.
struct LittleEndianReader {
    private(set) var bytes: ArraySlice<UInt8>
    let base: Int

    /// `origin` is the index offsets count from: by default the slice's start; pass the start of the whole log
    /// to read a part of it with offsets in log coordinates.
    init(_ bytes: ArraySlice<UInt8>, origin: Int? = nil) {
        self.bytes = bytes
        self.base = origin ?? bytes.startIndex
    }

    /// Offset from the origin.
    var offset: Int { bytes.startIndex - base }
    var remaining: Int { bytes.count }
    var isAtEnd: Bool { bytes.isEmpty }
    /// True when every byte left is zero (firmware pads the log area with zeros after the last event).
    var restIsZero: Bool { bytes.allSatisfy { $0 == 0 } }

    mutating func readBytes(_ count: Int, _ what: StaticString) throws(EventLogError) -> ArraySlice<UInt8> {
        guard count >= 0 else { throw EventLogError(.badLength, "negative length for \(what)", offset: offset) }
        guard count <= bytes.count else {
            throw EventLogError(.truncated, "the log ends inside \(what): \(count) bytes needed, \(bytes.count) left",
                                offset: offset)
        }
        let slice = bytes.prefix(count)
        bytes = bytes.dropFirst(count)
        return slice
    }

    mutating func readUInt8(_ what: StaticString) throws(EventLogError) -> UInt8 {
        let raw = try readBytes(1, what)
        return raw[raw.startIndex]
    }

    mutating func readUInt16(_ what: StaticString) throws(EventLogError) -> UInt16 {
        let raw = try readBytes(2, what)
        return raw.reversed().reduce(0) { $0 << 8 | UInt16($1) }
    }

    mutating func readUInt32(_ what: StaticString) throws(EventLogError) -> UInt32 {
        let raw = try readBytes(4, what)
        return raw.reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }
}
