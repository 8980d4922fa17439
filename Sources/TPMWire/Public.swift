/// TPMA_OBJECT (TPM 2.0 Part 2, 8.3): `typedef UINT32 TPMA_OBJECT;`
public struct ObjectAttributes: OptionSet, Hashable, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let fixedTPM = ObjectAttributes(rawValue: 1 << 1)
    public static let stClear = ObjectAttributes(rawValue: 1 << 2)
    public static let fixedParent = ObjectAttributes(rawValue: 1 << 4)
    public static let sensitiveDataOrigin = ObjectAttributes(rawValue: 1 << 5)
    public static let userWithAuth = ObjectAttributes(rawValue: 1 << 6)
    public static let adminWithPolicy = ObjectAttributes(rawValue: 1 << 7)
    public static let noDA = ObjectAttributes(rawValue: 1 << 10)
    public static let encryptedDuplication = ObjectAttributes(rawValue: 1 << 11)
    public static let restricted = ObjectAttributes(rawValue: 1 << 16)
    public static let decrypt = ObjectAttributes(rawValue: 1 << 17)
    public static let sign = ObjectAttributes(rawValue: 1 << 18)

    /// Bits the specification reserves; a TPM never sets them.
    public static let reservedMask: UInt32 = 0xFFF0_F309
}

/// TPMT_SYM_DEF_OBJECT (TPM 2.0 Part 2, 11.1.7): algorithm, then keyBits and mode unless TPM_ALG_NULL.
public struct SymmetricDefinition: Hashable, Sendable, WireCodable {
    public var algorithm: TPMAlgorithm
    public var keyBits: UInt16
    public var mode: TPMAlgorithm

    public static let null = SymmetricDefinition(algorithm: .null, keyBits: 0, mode: .null)
    public static func aesCFB(_ bits: UInt16) -> SymmetricDefinition { .init(algorithm: .aes, keyBits: bits, mode: .cfb) }

    public init(algorithm: TPMAlgorithm, keyBits: UInt16, mode: TPMAlgorithm) {
        self.algorithm = algorithm
        self.keyBits = keyBits
        self.mode = mode
    }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        let at = reader.offset
        algorithm = TPMAlgorithm(rawValue: try reader.readUInt16("TPMT_SYM_DEF_OBJECT.algorithm"))
        switch algorithm {
        case .null:
            keyBits = 0
            mode = .null
        case .aes, TPMAlgorithm(rawValue: 0x0026) /* camellia */, TPMAlgorithm(rawValue: 0x0013) /* sm4 */:
            keyBits = try reader.readUInt16("TPMT_SYM_DEF_OBJECT.keyBits")
            mode = TPMAlgorithm(rawValue: try reader.readUInt16("TPMT_SYM_DEF_OBJECT.mode"))
        default:
            throw TPMWireError(.unsupportedAlgorithm, "TPMT_SYM_DEF_OBJECT.algorithm \(algorithm)", offset: at)
        }
    }

    public func marshal(into writer: inout WireWriter) {
        writer.write(algorithm.rawValue)
        guard algorithm != .null else { return }
        writer.write(keyBits)
        writer.write(mode.rawValue)
    }
}

/// TPMT_RSA_SCHEME / TPMT_ECC_SCHEME / TPMT_KDF_SCHEME (TPM 2.0 Part 2, 11.2): scheme, then its details
/// (a hash algorithm, and for ECDAA a UINT16 count) unless TPM_ALG_NULL.
public struct Scheme: Hashable, Sendable {
    public var scheme: TPMAlgorithm
    public var hash: TPMAlgorithm
    public var count: UInt16

    public static let null = Scheme(scheme: .null, hash: .null)

    public init(scheme: TPMAlgorithm, hash: TPMAlgorithm, count: UInt16 = 0) {
        self.scheme = scheme
        self.hash = hash
        self.count = count
    }

    enum Kind { case rsa, ecc, kdf }

    init(unmarshalling reader: inout WireReader, kind: Kind, _ what: String) throws(TPMWireError) {
        let at = reader.offset
        scheme = TPMAlgorithm(rawValue: try reader.readUInt16("\(what).scheme"))
        count = 0
        let allowed: Set<TPMAlgorithm> = switch kind {
        case .rsa: [.null, .rsassa, .rsapss, .rsaes, .oaep]
        case .ecc: [.null, .ecdsa, .ecdh, .ecdaa, .sm2, .ecschnorr]
        case .kdf: [.null, TPMAlgorithm(rawValue: 0x0007) /* mgf1 */, .kdf1_sp800_56a, .kdf1_sp800_108, TPMAlgorithm(rawValue: 0x0021)]
        }
        guard allowed.contains(scheme) else {
            throw TPMWireError(.unsupportedAlgorithm, "\(what).scheme \(scheme) is not allowed here", offset: at)
        }
        if scheme == .null || scheme == .rsaes {
            hash = .null
        } else {
            hash = try TPMAlgorithm.readHash(from: &reader, allowNull: false, "\(what).details.hashAlg")
            if scheme == .ecdaa { count = try reader.readUInt16("\(what).details.count") }
        }
    }

    func marshal(into writer: inout WireWriter) {
        writer.write(scheme.rawValue)
        guard scheme != .null, scheme != .rsaes else { return }
        writer.write(hash.rawValue)
        if scheme == .ecdaa { writer.write(count) }
    }
}

/// TPM_ECC_CURVE (TPM 2.0 Part 2, 6.4).
public struct ECCCurve: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public static let nistP256 = ECCCurve(rawValue: 0x0003)
    public static let nistP384 = ECCCurve(rawValue: 0x0004)
    public static let nistP521 = ECCCurve(rawValue: 0x0005)

    /// Size in bytes of a coordinate.
    public var coordinateSize: Int? {
        switch self {
        case .nistP256: 32
        case .nistP384: 48
        case .nistP521: 66
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .nistP256: "NIST P-256"
        case .nistP384: "NIST P-384"
        case .nistP521: "NIST P-521"
        default: "curve 0x" + String(rawValue, radix: 16)
        }
    }
}

/// TPMT_PUBLIC (TPM 2.0 Part 2, 12.2.4), for RSA and ECC objects:
/// ```
/// typedef struct {
///     TPMI_ALG_PUBLIC   type;
///     TPMI_ALG_HASH     nameAlg;
///     TPMA_OBJECT       objectAttributes;
///     TPM2B_DIGEST      authPolicy;
///     TPMU_PUBLIC_PARMS parameters;   /* TPMS_RSA_PARMS or TPMS_ECC_PARMS */
///     TPMU_PUBLIC_ID    unique;       /* TPM2B_PUBLIC_KEY_RSA or TPMS_ECC_POINT */
/// } TPMT_PUBLIC;
/// ```
public struct PublicArea: Hashable, Sendable, WireCodable {
    public enum Parameters: Hashable, Sendable {
        /// TPMS_RSA_PARMS { symmetric; scheme; keyBits; exponent } and unique TPM2B_PUBLIC_KEY_RSA.
        case rsa(symmetric: SymmetricDefinition, scheme: Scheme, keyBits: UInt16, exponent: UInt32, modulus: [UInt8])
        /// TPMS_ECC_PARMS { symmetric; scheme; curveID; kdf } and unique TPMS_ECC_POINT { x; y }.
        case ecc(symmetric: SymmetricDefinition, scheme: Scheme, curve: ECCCurve, kdf: Scheme, x: [UInt8], y: [UInt8])
    }

    public var nameAlg: TPMAlgorithm
    public var objectAttributes: ObjectAttributes
    public var authPolicy: [UInt8]
    public var parameters: Parameters

    public init(nameAlg: TPMAlgorithm, objectAttributes: ObjectAttributes, authPolicy: [UInt8], parameters: Parameters) {
        self.nameAlg = nameAlg
        self.objectAttributes = objectAttributes
        self.authPolicy = authPolicy
        self.parameters = parameters
    }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        let at = reader.offset
        let type = TPMAlgorithm(rawValue: try reader.readUInt16("TPMT_PUBLIC.type"))
        guard type == .rsa || type == .ecc else {
            throw TPMWireError(.unsupportedAlgorithm, "TPMT_PUBLIC.type \(type) is not RSA or ECC", offset: at)
        }
        nameAlg = try TPMAlgorithm.readHash(from: &reader, allowNull: false, "TPMT_PUBLIC.nameAlg")
        objectAttributes = ObjectAttributes(rawValue: try reader.readUInt32("TPMT_PUBLIC.objectAttributes"))
        authPolicy = try reader.readSized(maximum: DigestList.maximumDigestSize, "TPMT_PUBLIC.authPolicy")
        let symmetric = try SymmetricDefinition(unmarshalling: &reader)
        if type == .rsa {
            let scheme = try Scheme(unmarshalling: &reader, kind: .rsa, "TPMT_RSA_SCHEME")
            let bitsAt = reader.offset
            let keyBits = try reader.readUInt16("TPMS_RSA_PARMS.keyBits")
            guard [1024, 2048, 3072, 4096].contains(keyBits) else {
                throw TPMWireError(.badValue, "TPMS_RSA_PARMS.keyBits \(keyBits) is not 1024, 2048, 3072 or 4096", offset: bitsAt)
            }
            let exponent = try reader.readUInt32("TPMS_RSA_PARMS.exponent")
            let modAt = reader.offset
            let modulus = try reader.readSized(maximum: Signature.maximumRSASize, "TPMT_PUBLIC.unique.rsa")
            guard modulus.isEmpty || modulus.count == Int(keyBits) / 8 else {
                throw TPMWireError(.sizeMismatch, "RSA modulus of \(modulus.count) bytes for a \(keyBits)-bit key", offset: modAt)
            }
            parameters = .rsa(symmetric: symmetric, scheme: scheme, keyBits: keyBits, exponent: exponent, modulus: modulus)
        } else {
            let scheme = try Scheme(unmarshalling: &reader, kind: .ecc, "TPMT_ECC_SCHEME")
            let curve = ECCCurve(rawValue: try reader.readUInt16("TPMS_ECC_PARMS.curveID"))
            let kdf = try Scheme(unmarshalling: &reader, kind: .kdf, "TPMT_KDF_SCHEME")
            let x = try reader.readSized(maximum: Signature.maximumECCParameterSize, "TPMS_ECC_POINT.x")
            let y = try reader.readSized(maximum: Signature.maximumECCParameterSize, "TPMS_ECC_POINT.y")
            parameters = .ecc(symmetric: symmetric, scheme: scheme, curve: curve, kdf: kdf, x: x, y: y)
        }
    }

    public func marshal(into writer: inout WireWriter) {
        switch parameters {
        case .rsa: writer.write(TPMAlgorithm.rsa.rawValue)
        case .ecc: writer.write(TPMAlgorithm.ecc.rawValue)
        }
        writer.write(nameAlg.rawValue)
        writer.write(objectAttributes.rawValue)
        writer.write(sized: authPolicy)
        switch parameters {
        case .rsa(let sym, let scheme, let keyBits, let exponent, let modulus):
            sym.marshal(into: &writer)
            scheme.marshal(into: &writer)
            writer.write(keyBits)
            writer.write(exponent)
            writer.write(sized: modulus)
        case .ecc(let sym, let scheme, let curve, let kdf, let x, let y):
            sym.marshal(into: &writer)
            scheme.marshal(into: &writer)
            writer.write(curve.rawValue)
            kdf.marshal(into: &writer)
            writer.write(sized: x)
            writer.write(sized: y)
        }
    }

    public var type: TPMAlgorithm {
        switch parameters {
        case .rsa: .rsa
        case .ecc: .ecc
        }
    }

    /// The object's signing scheme (TPM_ALG_NULL if none is fixed).
    public var scheme: Scheme {
        switch parameters {
        case .rsa(_, let s, _, _, _), .ecc(_, let s, _, _, _, _): s
        }
    }

    /// The object's Name: nameAlg || H_nameAlg(TPMT_PUBLIC) (TPM 2.0 Part 1, 16). Throws
    /// `wire.unsupported-algorithm` for a nameAlg this toolkit does not implement (never another hash's Name).
    public var name: [UInt8] { get throws(TPMWireError) { try Self.name(nameAlg: nameAlg, publicAreaBytes: wireBytes) } }

    /// The Name over exact bytes as they came from the TPM (never a re-encoding).
    public static func name(nameAlg: TPMAlgorithm, publicAreaBytes: [UInt8]) throws(TPMWireError) -> [UInt8] {
        [UInt8(nameAlg.rawValue >> 8), UInt8(nameAlg.rawValue & 0xFF)] + (try nameAlg.hash(publicAreaBytes))
    }
}

/// TPM2B_PUBLIC (TPM 2.0 Part 2, 12.2.5): `{ UINT16 size; TPMT_PUBLIC publicArea; }`, keeping the exact bytes of
/// publicArea so the Name is computed over what the TPM produced.
public struct Public: Hashable, Sendable, WireCodable {
    /// Larger than any TPMT_PUBLIC of an RSA-4096 or ECC key.
    public static let maximumSize = 1024

    public let publicArea: PublicArea
    public let publicAreaBytes: [UInt8]

    public init(_ publicArea: PublicArea) {
        self.publicArea = publicArea
        self.publicAreaBytes = publicArea.wireBytes
    }

    public init(unmarshalling reader: inout WireReader) throws(TPMWireError) {
        let at = reader.offset
        let bytes = try reader.readSized(maximum: Self.maximumSize, "TPM2B_PUBLIC")
        guard !bytes.isEmpty else { throw TPMWireError(.truncated, "TPM2B_PUBLIC is empty", offset: at) }
        var inner = WireReader(bytes)
        do {
            publicArea = try PublicArea(unmarshalling: &inner)
            try inner.expectEnd("TPM2B_PUBLIC.publicArea")
        } catch {
            // Report offsets relative to the outer buffer.
            throw TPMWireError(error.code == .truncated ? .sizeMismatch : error.code, error.reason,
                               offset: error.offset.map { $0 + at + 2 })
        }
        publicAreaBytes = bytes
    }

    public func marshal(into writer: inout WireWriter) { writer.write(sized: publicAreaBytes) }

    public var name: [UInt8] { get throws(TPMWireError) { try PublicArea.name(nameAlg: publicArea.nameAlg, publicAreaBytes: publicAreaBytes) } }
}
