/// The little-endian integers of a TCG event log (TPM structures are big-endian: `WireWriter`).
struct LittleEndianBytes {
    var bytes: [UInt8] = []

    mutating func append(_ value: UInt16) { bytes += [UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8)] }

    mutating func append(_ value: UInt32) {
        bytes += [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: value >> UInt32($0)) }
    }

    mutating func append(raw: [UInt8]) { bytes += raw }
}
