/// PCR values per bank: `banks[.sha256, 15]`. The one PCR-values type inside the toolkit: the TPM's PCR read,
/// a verified quote, the boot-log and measurement-log replays and the evaluation all hold it. The wire forms
/// (values in the order of a `TPML_PCR_SELECTION`, tpm2-tools' PCR file, an evidence bundle's JSON map) convert to
/// it at their edges with ``init(selection:ordered:)`` and ``ordered(_:)``.
public struct PCRBanks: Sendable, Hashable {
    public var values: [TPMAlgorithm: [Int: [UInt8]]]

    public init(_ values: [TPMAlgorithm: [Int: [UInt8]]] = [:]) { self.values = values }

    /// Values given in the order of `selection.orderedPCRs` (as TPM2_PCR_Read and a quote's pcrDigest list
    /// them). Nil when the counts differ.
    public init?(selection: PCRSelectionList, ordered: [[UInt8]]) {
        let entries = selection.orderedPCRs
        guard entries.count == ordered.count else { return nil }
        self.init()
        for (i, entry) in entries.enumerated() { self[entry.hash, entry.pcr] = ordered[i] }
    }

    /// The values of `selection`, in the order of `selection.orderedPCRs`; nil when one is missing.
    public func ordered(_ selection: PCRSelectionList) -> [[UInt8]]? {
        var out: [[UInt8]] = []
        for entry in selection.orderedPCRs {
            guard let value = self[entry.hash, entry.pcr] else { return nil }
            out.append(value)
        }
        return out
    }

    /// One bank's values by PCR index.
    public subscript(bank: TPMAlgorithm) -> [Int: [UInt8]]? { values[bank] }

    public subscript(bank: TPMAlgorithm, pcr: Int) -> [UInt8]? {
        get { values[bank]?[pcr] }
        set { values[bank, default: [:]][pcr] = newValue }
    }

    /// The reset value of a PCR (PC Client Platform TPM Profile, PCR attributes): all zeros for PCRs 0–16 and
    /// 23, all ones for the dynamic-launch PCRs 17–22 (zeroed only by a dynamic launch). PCR 0 may start at the
    /// startup locality instead, see ``BootEventLog``.
    public static func resetValue(_ bank: TPMAlgorithm, pcr: Int = 0) -> [UInt8] {
        [UInt8](repeating: (17...22).contains(pcr) ? 0xFF : 0, count: bank.digestSize ?? 0)
    }

    /// TPM2_PCR_Extend: `new = H(old || digest)`. Throws `wire.unsupported-algorithm` for a bank this toolkit
    /// does not compute.
    public static func extend(_ old: [UInt8], with digest: some Collection<UInt8>, bank: TPMAlgorithm) throws(TPMWireError) -> [UInt8] {
        var data = old
        data.append(contentsOf: digest)
        return try bank.hash(data)
    }
}
