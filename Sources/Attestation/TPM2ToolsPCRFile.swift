public import TPMWire

/// tpm2-tools' PCR output file (`tpm2_quote -o`, `tpm2_checkquote -f`) in its default "serialized" format: the
/// C structures TPML_PCR_SELECTION and tpm2_pcrs written in little-endian host layout:
/// ```
/// TPML_PCR_SELECTION: UINT32 count; TPMS_PCR_SELECTION pcrSelections[16]   (each: UINT16 hash,
///                     UINT8 sizeofSelect, BYTE pcrSelect[4], 1 byte padding)          = 132 bytes
/// tpm2_pcrs:          UINT32 count; TPML_DIGEST pcr_values[count]                     (each: UINT32 count,
///                     TPM2B_DIGEST digests[8] as UINT16 size + BYTE buffer[64])       = 532 bytes each
/// ```
/// Values are listed in selection order, 8 per TPML_DIGEST.
public struct TPM2ToolsPCRFile: Hashable, Sendable {
    static let selectionBytes = 4 + 16 * 8
    static let digestListBytes = 4 + 8 * 66
    static let maximumLists = 32

    public var selection: PCRSelectionList
    public var values: [[UInt8]]

    public init(selection: PCRSelectionList, values: [[UInt8]]) {
        self.selection = selection
        self.values = values
    }

    public init(bytes: [UInt8]) throws(AttestationError) {
        func fail(_ reason: String, _ at: Int) -> AttestationError {
            AttestationError(.malformedEvidence, "tpm2-tools PCR file: \(reason)", offset: at)
        }
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24 }

        guard bytes.count >= Self.selectionBytes + 4 else { throw fail("\(bytes.count) bytes is too short", bytes.count) }
        let count = u32(0)
        guard count <= PCRSelectionList.maximumCount else { throw fail("selection count \(count) exceeds 16", 0) }
        var selections: [PCRSelection] = []
        for i in 0..<count {
            let at = 4 + i * 8
            guard let hash = Optional(TPMAlgorithm(rawValue: UInt16(u16(at)))), hash.isHash else { throw fail("bank \(i) is not a hash algorithm", at) }
            let size = Int(bytes[at + 2])
            guard size <= PCRSelection.maximumSelectSize else { throw fail("sizeofSelect \(size) exceeds 4", at + 2) }
            var pcrs: [Int] = []
            for octet in 0..<size { for bit in 0..<8 where bytes[at + 3 + octet] & (1 << bit) != 0 { pcrs.append(octet * 8 + bit) } }
            if let beyond = pcrs.first(where: { $0 >= PCRSelection.pcrCount }) {
                throw fail("bank \(i) selects PCR \(beyond); PCRs are 0-\(PCRSelection.pcrCount - 1)", at + 3)
            }
            selections.append(PCRSelection(hash: hash, pcrs: pcrs, sizeofSelect: size))
        }
        let selection = PCRSelectionList(selections)
        var at = Self.selectionBytes
        let lists = u32(at)
        at += 4
        guard lists <= Self.maximumLists else { throw fail("digest list count \(lists) exceeds \(Self.maximumLists)", at - 4) }
        guard bytes.count == at + lists * Self.digestListBytes else {
            throw fail("\(bytes.count) bytes, expected \(at + lists * Self.digestListBytes) for \(lists) digest lists", bytes.count)
        }
        var values: [[UInt8]] = []
        for _ in 0..<lists {
            let n = u32(at)
            guard n <= 8 else { throw fail("digest count \(n) exceeds 8", at) }
            for d in 0..<n {
                let entry = at + 4 + d * 66
                let size = u16(entry)
                guard size <= 64 else { throw fail("digest size \(size) exceeds 64", entry) }
                values.append(Array(bytes[(entry + 2)..<(entry + 2 + size)]))
            }
            at += Self.digestListBytes
        }
        let ordered = selection.orderedPCRs
        guard values.count == ordered.count else { throw fail("\(values.count) values for \(ordered.count) selected PCRs", at) }
        for (i, entry) in ordered.enumerated() where values[i].count != entry.hash.digestSize {
            throw fail("value \(i) has \(values[i].count) bytes, \(entry.hash.name) needs \(entry.hash.digestSize ?? 0)", at)
        }
        self.selection = selection
        self.values = values
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        func u16(_ v: Int) { out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: Int) { out += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8((v >> 24) & 0xFF)] }
        u32(selection.selections.count)
        for i in 0..<16 {
            if i < selection.selections.count {
                let s = selection.selections[i]
                u16(Int(s.hash.rawValue))
                out.append(UInt8(s.sizeofSelect))
                var bits = [UInt8](repeating: 0, count: 4)
                for p in s.pcrs where p / 8 < 4 { bits[p / 8] |= 1 << UInt8(p % 8) }
                out += bits
                out.append(0)
            } else {
                out += [UInt8](repeating: 0, count: 8)
            }
        }
        let chunks = stride(from: 0, to: values.count, by: 8).map { Array(values[$0..<min($0 + 8, values.count)]) }
        u32(chunks.count)
        for chunk in chunks {
            u32(chunk.count)
            for i in 0..<8 {
                let v = i < chunk.count ? chunk[i] : []
                u16(v.count)
                out += v + [UInt8](repeating: 0, count: 64 - v.count)
            }
        }
        return out
    }
}
