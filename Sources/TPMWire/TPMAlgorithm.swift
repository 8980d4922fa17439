public import Crypto
public import Foundation

/// TPM_ALG_ID (TPM 2.0 Part 2, 6.3): `typedef UINT16 TPM_ALG_ID;`
public struct TPMAlgorithm: RawRepresentable, Hashable, Sendable, CustomStringConvertible, Comparable, Codable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let rsa = TPMAlgorithm(rawValue: 0x0001)
    public static let sha1 = TPMAlgorithm(rawValue: 0x0004)
    public static let hmac = TPMAlgorithm(rawValue: 0x0005)
    public static let aes = TPMAlgorithm(rawValue: 0x0006)
    public static let keyedHash = TPMAlgorithm(rawValue: 0x0008)
    public static let sha256 = TPMAlgorithm(rawValue: 0x000B)
    public static let sha384 = TPMAlgorithm(rawValue: 0x000C)
    public static let sha512 = TPMAlgorithm(rawValue: 0x000D)
    public static let null = TPMAlgorithm(rawValue: 0x0010)
    public static let sm3_256 = TPMAlgorithm(rawValue: 0x0012)
    public static let rsassa = TPMAlgorithm(rawValue: 0x0014)
    public static let rsaes = TPMAlgorithm(rawValue: 0x0015)
    public static let rsapss = TPMAlgorithm(rawValue: 0x0016)
    public static let oaep = TPMAlgorithm(rawValue: 0x0017)
    public static let ecdsa = TPMAlgorithm(rawValue: 0x0018)
    public static let ecdh = TPMAlgorithm(rawValue: 0x0019)
    public static let ecdaa = TPMAlgorithm(rawValue: 0x001A)
    public static let sm2 = TPMAlgorithm(rawValue: 0x001B)
    public static let ecschnorr = TPMAlgorithm(rawValue: 0x001C)
    public static let kdf1_sp800_56a = TPMAlgorithm(rawValue: 0x0020)
    public static let kdf1_sp800_108 = TPMAlgorithm(rawValue: 0x0022)
    public static let ecc = TPMAlgorithm(rawValue: 0x0023)
    public static let symCipher = TPMAlgorithm(rawValue: 0x0025)
    public static let ctr = TPMAlgorithm(rawValue: 0x0040)
    public static let ofb = TPMAlgorithm(rawValue: 0x0041)
    public static let cbc = TPMAlgorithm(rawValue: 0x0042)
    public static let cfb = TPMAlgorithm(rawValue: 0x0043)
    public static let ecb = TPMAlgorithm(rawValue: 0x0044)

    /// Digest size in bytes for the hash algorithms TPMs implement; nil for anything else.
    public var digestSize: Int? {
        switch self {
        case .sha1: 20
        case .sha256, .sm3_256: 32
        case .sha384: 48
        case .sha512: 64
        default: nil
        }
    }

    /// A TPM hash algorithm (TPMI_ALG_HASH), implemented here or not.
    public var isHash: Bool { digestSize != nil }

    /// The hash algorithms this toolkit computes: the PCR banks it replays, the Names and signatures it checks.
    public static let implementedHashes: [TPMAlgorithm] = [.sha1, .sha256, .sha384, .sha512]

    public var isImplementedHash: Bool { Self.implementedHashes.contains(self) }

    /// An implemented hash by its exact name in files ("sha1", "sha256", "sha384", "sha512"), or nil.
    public init?(implementedHashName name: String) {
        guard let match = Self.implementedHashes.first(where: { $0.name == name }) else { return nil }
        self = match
    }

    /// The one hash dispatch: the digest of `data` as a swift-crypto `Digest` (for signature checks).
    /// Throws `wire.unsupported-algorithm` for any algorithm not implemented here (SM3_256 included), never
    /// silently using another hash.
    public func digest(of data: some DataProtocol) throws(TPMWireError) -> any Digest {
        switch self {
        case .sha1: Insecure.SHA1.hash(data: data)
        case .sha256: SHA256.hash(data: data)
        case .sha384: SHA384.hash(data: data)
        case .sha512: SHA512.hash(data: data)
        default: throw TPMWireError(.unsupportedAlgorithm, "\(name) is not a hash algorithm this toolkit implements (sha1, sha256, sha384, sha512)")
        }
    }

    /// The digest of `data` as bytes; throws like ``digest(of:)``.
    public func hash(_ data: some DataProtocol) throws(TPMWireError) -> [UInt8] {
        Array(try digest(of: data))
    }

    /// The name used by tpm2-tools and in this project's files ("sha256", "rsassa", ...).
    public var name: String {
        switch self {
        case .rsa: "rsa"
        case .sha1: "sha1"
        case .hmac: "hmac"
        case .aes: "aes"
        case .keyedHash: "keyedhash"
        case .sha256: "sha256"
        case .sha384: "sha384"
        case .sha512: "sha512"
        case .null: "null"
        case .sm3_256: "sm3_256"
        case .rsassa: "rsassa"
        case .rsaes: "rsaes"
        case .rsapss: "rsapss"
        case .oaep: "oaep"
        case .ecdsa: "ecdsa"
        case .ecdh: "ecdh"
        case .ecdaa: "ecdaa"
        case .sm2: "sm2"
        case .ecschnorr: "ecschnorr"
        case .ecc: "ecc"
        case .symCipher: "symcipher"
        case .cfb: "cfb"
        default: hex16(rawValue)
        }
    }

    public var description: String { name }

    /// By TPM_ALG_ID: for the hashes, sha1 < sha256 < sha384 < sha512.
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// In JSON an algorithm is its name ("sha256"), as tpm2-tools writes it.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let alg = TPMAlgorithm(name: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "'\(text)' is not a TPM algorithm name"))
        }
        self = alg
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }

    /// The algorithm a name of ``name`` stands for (hashes case-insensitively), or nil.
    public init?(name: String) {
        if let hash = TPMAlgorithm(hashName: name) { self = hash; return }
        guard let known = Self.named.first(where: { $0.name == name }) else { return nil }
        self = known
    }

    static let named: [TPMAlgorithm] = [
        .rsa, .sha1, .hmac, .aes, .keyedHash, .sha256, .sha384, .sha512, .null, .sm3_256, .rsassa, .rsaes, .rsapss,
        .oaep, .ecdsa, .ecdh, .ecdaa, .sm2, .ecschnorr, .kdf1_sp800_56a, .kdf1_sp800_108, .ecc, .symCipher, .ctr, .ofb,
        .cbc, .cfb, .ecb,
    ]

    /// Parses the hash names accepted on command lines and in files.
    public init?(hashName: String) {
        switch hashName.lowercased() {
        case "sha1": self = .sha1
        case "sha256": self = .sha256
        case "sha384": self = .sha384
        case "sha512": self = .sha512
        case "sm3_256": self = .sm3_256
        default: return nil
        }
    }

    /// Reads a TPMI_ALG_HASH (allowing TPM_ALG_NULL only when `allowNull`).
    public static func readHash(from reader: inout WireReader, allowNull: Bool, _ what: String) throws(TPMWireError) -> TPMAlgorithm {
        let at = reader.offset
        let alg = TPMAlgorithm(rawValue: try reader.readUInt16(what))
        guard alg.isHash || (allowNull && alg == .null) else {
            throw TPMWireError(.unsupportedAlgorithm, "\(what) \(alg) is not a hash algorithm", offset: at)
        }
        return alg
    }
}

func hex16(_ value: UInt16) -> String {
    let hex = String(value, radix: 16)
    return "0x" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
}
