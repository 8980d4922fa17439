public import TPMWire
import Crypto

/// PCR values per bank: `values[.sha256]?[15]`. A neutral type shared by the boot-log replay, the
/// measurement-log replay and the evaluation; quote verification converts its PCR selection into it.
public struct PCRBanks: Sendable, Hashable {
    public var values: [TPMAlgorithm: [Int: [UInt8]]]

    public init(_ values: [TPMAlgorithm: [Int: [UInt8]]] = [:]) { self.values = values }

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

/// SHA-256, the digest of every named measurement (no algorithm to choose, so nothing to dispatch).
public enum Digests {
    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] { Array(SHA256.hash(data: Array(data))) }
}
