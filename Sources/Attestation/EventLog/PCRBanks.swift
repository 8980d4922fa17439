public import Policy
import Crypto

/// PCR values per bank: `values[.sha256]?[15]`. A neutral type shared by the boot-log replay, the
/// measurement-log replay and the evaluation; quote verification converts its PCR selection into it.
public struct PCRBanks: Sendable, Hashable {
    public var values: [HashAlgorithm: [Int: [UInt8]]]

    public init(_ values: [HashAlgorithm: [Int: [UInt8]]] = [:]) { self.values = values }

    public subscript(bank: HashAlgorithm, pcr: Int) -> [UInt8]? {
        get { values[bank]?[pcr] }
        set { values[bank, default: [:]][pcr] = newValue }
    }

    /// The reset value of a PCR (PC Client Platform TPM Profile, PCR attributes): all zeros for PCRs 0–16 and
    /// 23, all ones for the dynamic-launch PCRs 17–22 (zeroed only by a dynamic launch). PCR 0 may start at the
    /// startup locality instead, see ``BootEventLog``.
    public static func resetValue(_ bank: HashAlgorithm, pcr: Int = 0) -> [UInt8] {
        [UInt8](repeating: (17...22).contains(pcr) ? 0xFF : 0, count: bank.digestSize)
    }

    /// TPM2_PCR_Extend: `new = H(old || digest)`.
    public static func extend(_ old: [UInt8], with digest: some Collection<UInt8>, bank: HashAlgorithm) -> [UInt8] {
        var data = old
        data.append(contentsOf: digest)
        return Digests.hash(data, bank)
    }
}

/// Digest helpers over swift-crypto.
public enum Digests {
    public static func hash(_ data: some Collection<UInt8>, _ algorithm: HashAlgorithm) -> [UInt8] {
        let bytes = Array(data)
        switch algorithm {
        case .sha1: return Array(Insecure.SHA1.hash(data: bytes))
        case .sha256: return Array(SHA256.hash(data: bytes))
        case .sha384: return Array(SHA384.hash(data: bytes))
        case .sha512: return Array(SHA512.hash(data: bytes))
        }
    }

    public static func sha256(_ data: some Collection<UInt8>) -> [UInt8] { hash(data, .sha256) }
}
