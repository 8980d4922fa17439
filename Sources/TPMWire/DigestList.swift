/// TPML_DIGEST (TPM 2.0 Part 2, 10.9.3):
/// ```
/// typedef struct {
///     UINT32       count;              /* 0 <= count <= 8 */
///     TPM2B_DIGEST digests[8];
/// } TPML_DIGEST;
/// ```
public struct DigestList: Hashable, Sendable, WireCodable {
    public static let maximumCount = 8
    /// sizeof(TPMU_HA): the largest digest (SHA-512).
    public static let maximumDigestSize = 64

    public var digests: [[UInt8]]

    public init(_ digests: [[UInt8]]) { self.digests = digests }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        let at = reader.offset
        let count = try reader.readUInt32("TPML_DIGEST.count")
        guard count <= UInt32(Self.maximumCount) else {
            throw TPMWireError(.countTooLarge, "TPML_DIGEST.count \(count) exceeds \(Self.maximumCount)", offset: at)
        }
        var list: [[UInt8]] = []
        for i in 0..<Int(count) {
            list.append(try reader.readSized(maximum: Self.maximumDigestSize, "TPML_DIGEST.digests[\(i)]"))
        }
        digests = list
    }

    public func marshal(into writer: inout WireWriter) {
        writer.write(UInt32(digests.count))
        for d in digests { writer.write(sized: d) }
    }
}
