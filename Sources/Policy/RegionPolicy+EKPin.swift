import TPMWire
import Yams

extension RegionPolicy {
    /// The EK a host must enrol with, written on its host entry:
    ///
    /// ```yaml
    /// hosts:
    ///   - {id: host-a, address: 10.0.0.11, port: 8443, ek-cert-sha256: 5d41…}
    ///   - {id: host-b, address: 10.0.0.12, port: 8443, ek-name: 000b8f…}
    /// ```
    ///
    /// `ek-cert-sha256` is the SHA-256 of the EK certificate's DER (`sha256sum STATE_DIR/ek-rsa.der`); `ek-name`
    /// is the EK's TPM Name (`tpm provision` prints it). With both, both must match. A pinned host enrols with
    /// that EK only, whatever `rctcb readmit` allows: changing the EK of a pinned host is a policy change.
    public struct EKPin: Sendable, Hashable {
        public var certificateSHA256: [UInt8]?
        public var name: [UInt8]?

        public init(certificateSHA256: [UInt8]? = nil, name: [UInt8]? = nil) {
            self.certificateSHA256 = certificateSHA256
            self.name = name
        }

        /// Whether an EK with this certificate hash and Name is the pinned one.
        public func admits(certificateSHA256 hash: [UInt8], name ekName: [UInt8]) -> Bool {
            (certificateSHA256 == nil || certificateSHA256 == hash) && (name == nil || name == ekName)
        }

        /// What the pin names, for messages and the audit trail.
        public var summary: String {
            [certificateSHA256.map { "EK certificate sha256 \(Hex.encode($0))" }, name.map { "EK name \(Hex.encode($0))" }]
                .compactMap { $0 }.joined(separator: " and ")
        }
    }

    /// The host entry keys that pin an EK.
    static let ekPinKeys = ["ek-cert-sha256", "ek-name"]

    /// The pin written on one host entry, or nil when it has none.
    static func ekPin(_ fields: Fields, host: String, source: PolicySource) throws(PolicyError) -> EKPin? {
        var pin = EKPin()
        if let node = fields["ek-cert-sha256"] {
            pin.certificateSHA256 = try source.digest(node, algorithm: .sha256, what: "ek-cert-sha256 of '\(host)'")
        }
        if let node = fields["ek-name"] { pin.name = try ekName(node, host: host, source: source) }
        return pin.certificateSHA256 == nil && pin.name == nil ? nil : pin
    }

    /// A TPM Name: the name algorithm (2 bytes, big-endian) and a digest of that algorithm's size.
    static func ekName(_ node: Node, host: String, source: PolicySource) throws(PolicyError) -> [UInt8] {
        let what = "ek-name of '\(host)'"
        let text = try source.string(node, what: what)
        let hint = "an EK Name is its name algorithm (000b sha256, 000c sha384, 000d sha512) and that digest, as `tpm provision` prints it"
        guard text.utf8.count >= 4, text.utf8.count % 2 == 0, let bytes = Hex.decode(text) else {
            throw source.error(.badDigest, at: node, "\(what) '\(text)' is not an even number of hex digits", hint: hint)
        }
        let algorithm = TPMAlgorithm(rawValue: UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        guard [.sha256, .sha384, .sha512].contains(algorithm), let size = algorithm.digestSize else {
            throw source.error(.badValue, at: node, "\(what) starts with \(Hex.encode(bytes.prefix(2))), not a name algorithm", hint: hint)
        }
        guard bytes.count == 2 + size else {
            throw source.error(.badDigestLength, at: node,
                               "\(what) has \(text.utf8.count) hex digits, expected \(4 + 2 * size) for a \(algorithm.name) Name", hint: hint)
        }
        return bytes
    }

    /// Two hosts cannot be pinned to the same EK: one TPM is one host.
    static func checkDistinctPins(_ pins: [(host: String, pin: EKPin, node: Node?)], source: PolicySource) throws(PolicyError) {
        var seen: [[UInt8]: String] = [:]
        for (host, pin, node) in pins {
            for key in [pin.certificateSHA256, pin.name].compactMap({ $0 }) {
                if let owner = seen[key], owner != host {
                    throw source.error(.duplicateEntry, at: node, "host '\(host)' pins the same EK as '\(owner)'",
                                       hint: "one TPM is one host; check the EK of each host")
                }
                seen[key] = host
            }
        }
    }
}
