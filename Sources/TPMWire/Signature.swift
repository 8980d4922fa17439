/// TPMT_SIGNATURE (TPM 2.0 Part 2, 11.3.4):
/// ```
/// typedef struct {
///     TPMI_ALG_SIG_SCHEME sigAlg;
///     TPMU_SIGNATURE      signature;   /* [sigAlg] */
/// } TPMT_SIGNATURE;
/// typedef struct { TPMI_ALG_HASH hash; TPM2B_PUBLIC_KEY_RSA sig; } TPMS_SIGNATURE_RSA;
/// typedef struct { TPMI_ALG_HASH hash; TPM2B_ECC_PARAMETER signatureR; TPM2B_ECC_PARAMETER signatureS; } TPMS_SIGNATURE_ECC;
/// ```
/// RSASSA, RSAPSS and ECDSA are decoded; other schemes are rejected as unsupported.
public enum Signature: Hashable, Sendable, WireCodable {
    /// TPM2_MAX_RSA_KEY_BYTES.
    public static let maximumRSASize = 512
    /// TPM2_MAX_ECC_KEY_BYTES.
    public static let maximumECCParameterSize = 128

    case rsassa(hash: TPMAlgorithm, signature: [UInt8])
    case rsapss(hash: TPMAlgorithm, signature: [UInt8])
    case ecdsa(hash: TPMAlgorithm, r: [UInt8], s: [UInt8])

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        let at = reader.offset
        let alg = TPMAlgorithm(rawValue: try reader.readUInt16("TPMT_SIGNATURE.sigAlg"))
        switch alg {
        case .rsassa, .rsapss:
            let hash = try TPMAlgorithm.readHash(from: &reader, allowNull: false, "TPMS_SIGNATURE_RSA.hash")
            let sig = try reader.readSized(maximum: Self.maximumRSASize, "TPMS_SIGNATURE_RSA.sig")
            self = alg == .rsassa ? .rsassa(hash: hash, signature: sig) : .rsapss(hash: hash, signature: sig)
        case .ecdsa:
            let hash = try TPMAlgorithm.readHash(from: &reader, allowNull: false, "TPMS_SIGNATURE_ECC.hash")
            let r = try reader.readSized(maximum: Self.maximumECCParameterSize, "TPMS_SIGNATURE_ECC.signatureR")
            let s = try reader.readSized(maximum: Self.maximumECCParameterSize, "TPMS_SIGNATURE_ECC.signatureS")
            self = .ecdsa(hash: hash, r: r, s: s)
        default:
            throw TPMWireError(.unsupportedAlgorithm, "TPMT_SIGNATURE.sigAlg \(alg) is not RSASSA, RSAPSS or ECDSA", offset: at)
        }
    }

    public func marshal(into writer: inout WireWriter) {
        switch self {
        case .rsassa(let hash, let sig), .rsapss(let hash, let sig):
            writer.write(scheme.rawValue)
            writer.write(hash.rawValue)
            writer.write(sized: sig)
        case .ecdsa(let hash, let r, let s):
            writer.write(TPMAlgorithm.ecdsa.rawValue)
            writer.write(hash.rawValue)
            writer.write(sized: r)
            writer.write(sized: s)
        }
    }

    public var scheme: TPMAlgorithm {
        switch self {
        case .rsassa: .rsassa
        case .rsapss: .rsapss
        case .ecdsa: .ecdsa
        }
    }

    public var hash: TPMAlgorithm {
        switch self {
        case .rsassa(let h, _), .rsapss(let h, _), .ecdsa(let h, _, _): h
        }
    }
}
