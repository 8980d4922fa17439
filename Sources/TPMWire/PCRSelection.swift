/// TPMS_PCR_SELECTION (TPM 2.0 Part 2, 10.6.2):
/// ```
/// typedef struct {
///     TPMI_ALG_HASH hash;
///     UINT8         sizeofSelect;
///     BYTE          pcrSelect[PCR_SELECT_MAX];
/// } TPMS_PCR_SELECTION;
/// ```
public struct PCRSelection: Hashable, Sendable, WireCodable {
    /// PCR_SELECT_MAX for a TPM with up to 32 PCRs (tpm2-tss TPM2_PCR_SELECT_MAX).
    public static let maximumSelectSize = 4
    /// Size of pcrSelect a PC Client TPM uses (24 PCRs).
    public static let standardSelectSize = 3
    /// PCRs a TPM has (PC Client: 0–23). A selection naming a PCR beyond them is refused.
    public static let pcrCount = 24

    public var hash: TPMAlgorithm
    /// The selected PCR indices, ascending.
    public var pcrs: [Int]
    /// sizeofSelect as on the wire (kept so re-marshalling reproduces the TPM's bytes).
    public var sizeofSelect: Int

    public init(hash: TPMAlgorithm, pcrs: [Int], sizeofSelect: Int = PCRSelection.standardSelectSize) {
        self.hash = hash
        self.pcrs = Array(Set(pcrs)).sorted()
        self.sizeofSelect = max(sizeofSelect, ((self.pcrs.last ?? 0) / 8) + 1)
    }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        hash = try TPMAlgorithm.readHash(from: &reader, allowNull: false, "TPMS_PCR_SELECTION.hash")
        let at = reader.offset
        let size = Int(try reader.readUInt8("TPMS_PCR_SELECTION.sizeofSelect"))
        guard size <= Self.maximumSelectSize else {
            throw TPMWireError(.sizeTooLarge, "sizeofSelect \(size) exceeds PCR_SELECT_MAX \(Self.maximumSelectSize)", offset: at)
        }
        sizeofSelect = size
        let bits = try reader.readBytes(size, what: "TPMS_PCR_SELECTION.pcrSelect")
        var selected: [Int] = []
        for (octet, byte) in bits.enumerated() {
            for bit in 0..<8 where byte & (1 << bit) != 0 { selected.append(octet * 8 + bit) }
        }
        if let beyond = selected.first(where: { $0 >= Self.pcrCount }) {
            throw TPMWireError(.pcrOutOfRange, "PCR \(beyond) is selected; PCRs are 0-\(Self.pcrCount - 1)", offset: at + 1)
        }
        pcrs = selected
    }

    public func marshal(into writer: inout WireWriter) {
        writer.write(hash.rawValue)
        writer.write(UInt8(sizeofSelect))
        var bits = [UInt8](repeating: 0, count: sizeofSelect)
        for pcr in pcrs where pcr / 8 < sizeofSelect { bits[pcr / 8] |= 1 << UInt8(pcr % 8) }
        writer.write(raw: bits)
    }
}

/// TPML_PCR_SELECTION (TPM 2.0 Part 2, 10.9.7):
/// ```
/// typedef struct {
///     UINT32             count;
///     TPMS_PCR_SELECTION pcrSelections[HASH_COUNT];
/// } TPML_PCR_SELECTION;
/// ```
public struct PCRSelectionList: Hashable, Sendable, WireCodable, CustomStringConvertible {
    /// HASH_COUNT as tpm2-tss sizes it (TPM2_NUM_PCR_BANKS).
    public static let maximumCount = 16

    public var selections: [PCRSelection]

    public init(_ selections: [PCRSelection]) { self.selections = selections }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        let at = reader.offset
        let count = try reader.readUInt32("TPML_PCR_SELECTION.count")
        guard count <= UInt32(Self.maximumCount) else {
            throw TPMWireError(.countTooLarge, "TPML_PCR_SELECTION.count \(count) exceeds \(Self.maximumCount)", offset: at)
        }
        var list: [PCRSelection] = []
        for _ in 0..<Int(count) { list.append(try PCRSelection(unmarshalling: &reader)) }
        selections = list
    }

    public func marshal(into writer: inout WireWriter) {
        writer.write(UInt32(selections.count))
        for s in selections { s.marshal(into: &writer) }
    }

    /// (bank, pcr) pairs in the order the TPM concatenates PCR values for a quote or a read.
    public var orderedPCRs: [(hash: TPMAlgorithm, pcr: Int)] {
        selections.flatMap { s in s.pcrs.map { (s.hash, $0) } }
    }

    /// Equality of what is selected, ignoring sizeofSelect padding and empty banks.
    public func selectsSame(as other: PCRSelectionList) -> Bool {
        func norm(_ l: PCRSelectionList) -> [[Int]] {
            l.selections.filter { !$0.pcrs.isEmpty }.map { [Int($0.hash.rawValue)] + $0.pcrs }
        }
        return norm(self) == norm(other)
    }

    /// "sha256:0,1,2,15+sha1:0" — the tpm2-tools notation.
    public var description: String {
        selections.map { s in "\(s.hash.name):" + s.pcrs.map(String.init).joined(separator: ",") }.joined(separator: "+")
    }

    /// Parses tpm2-tools' notation: `sha256:0-7,15` or `sha1:0,1+sha256:all`.
    public init(parsing text: String) throws(TPMWireError) {
        var list: [PCRSelection] = []
        for bank in text.split(separator: "+", omittingEmptySubsequences: false) {
            let parts = bank.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let hash = TPMAlgorithm(hashName: String(parts[0])) else {
                throw TPMWireError(.badValue, "PCR selection '\(bank)': expected BANK:PCRS with BANK one of sha1, sha256, sha384, sha512")
            }
            var pcrs: [Int] = []
            if parts[1] == "all" {
                pcrs = Array(0..<24)
            } else {
                for item in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
                    let range = item.split(separator: "-", omittingEmptySubsequences: false)
                    guard (1...2).contains(range.count),
                          let lo = Int(range[0]), let hi = Int(range[range.count - 1]),
                          lo >= 0, lo <= hi
                    else {
                        throw TPMWireError(.badValue, "PCR selection '\(bank)': '\(item)' is not a PCR index or range")
                    }
                    guard hi < PCRSelection.pcrCount else {
                        throw TPMWireError(.pcrOutOfRange, "PCR selection '\(bank)': PCR \(hi) does not exist: PCRs are 0-\(PCRSelection.pcrCount - 1)")
                    }
                    pcrs.append(contentsOf: lo...hi)
                }
            }
            guard !list.contains(where: { $0.hash == hash }) else {
                throw TPMWireError(.badValue, "PCR selection '\(text)': bank \(hash.name) named twice")
            }
            list.append(PCRSelection(hash: hash, pcrs: pcrs))
        }
        guard list.count <= Self.maximumCount else {
            throw TPMWireError(.countTooLarge, "too many banks in '\(text)'")
        }
        self.init(list)
    }
}
