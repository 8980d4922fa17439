public import Foundation
public import TPMWire
import Policy

/// The evidence bundle (DESIGN.md, Formats): everything a verifier needs to check one quote, as JSON.
/// Binary fields are base64 of the exact bytes the TPM produced; digests and nonces are hex.
public struct EvidenceBundle: Codable, Hashable, Sendable {
    public static let currentVersion = 1

    public var version: Int
    public var hostId: String
    /// TPM2B_PUBLIC of the AK, base64.
    public var akPublic: String
    /// The AK's Name, hex (nameAlg ‖ digest).
    public var akName: String
    /// The challenge, hex.
    public var nonce: String
    /// TPMS_ATTEST as signed, base64.
    public var attest: String
    /// TPMT_SIGNATURE, base64.
    public var signature: String
    /// The quoted selection in tpm2-tools notation (`sha256:0,1,2`).
    public var pcrSelection: String
    /// PCR values per bank: `{"sha256": {"0": "hex", ...}}`.
    public var pcrs: [String: [String: String]]
    /// The measurement log (TCG CEL-JSON records), when the agent sends one.
    public var eventLog: [MeasurementRecord]?
    /// The host's TCG boot event log (`binary_bios_measurements`), base64, when the agent sends one.
    public var bootLog: String?
    /// The agent's wall-clock time when it made the quote (informational; freshness comes from the nonce).
    public var agentTime: Date
    /// Why the agent sent no measurement log although it keeps one (the log could not be read), or nil.
    public var eventLogUnusable: String?

    public init(
        hostId: String, akPublic: [UInt8], akName: [UInt8], nonce: [UInt8], attest: [UInt8], signature: [UInt8],
        selection: PCRSelectionList, pcrValues: [[UInt8]], eventLog: [MeasurementRecord]? = nil,
        bootLog: [UInt8]? = nil, agentTime: Date
    ) {
        self.version = Self.currentVersion
        self.hostId = hostId
        self.akPublic = Data(akPublic).base64EncodedString()
        self.akName = Hex.encode(akName)
        self.nonce = Hex.encode(nonce)
        self.attest = Data(attest).base64EncodedString()
        self.signature = Data(signature).base64EncodedString()
        self.pcrSelection = selection.description
        var pcrs: [String: [String: String]] = [:]
        for (i, entry) in selection.orderedPCRs.enumerated() where i < pcrValues.count {
            pcrs[entry.hash.name, default: [:]][String(entry.pcr)] = Hex.encode(pcrValues[i])
        }
        self.pcrs = pcrs
        self.eventLog = eventLog
        self.bootLog = bootLog.map { Data($0).base64EncodedString() }
        self.agentTime = agentTime
    }

    /// Decodes a bundle from JSON, strictly: read by ``StrictJSON`` first (a duplicate key, a document deeper than
    /// 16 levels or larger than 16 MiB is refused with its `json.*` code; text that is not JSON is
    /// `evidence.malformed`), then decoded; a field the decoder does not know is `json.unknown-field` at its path;
    /// an unknown version is `evidence.malformed`.
    public static func decode(_ data: Data) throws(AttestationError) -> EvidenceBundle {
        func refused(_ error: StrictJSON.Error) -> AttestationError {
            // Text that is not JSON at all stays `evidence.malformed`; the strictness codes are kept as they are.
            let code: AttestationError.Code = error.code == .syntax || error.code == .shape
                ? .malformedEvidence : .init(rawValue: error.code.rawValue)
            return AttestationError(code, "evidence bundle: \(error.reason)", offset: error.offset)
        }
        let document: StrictJSON.Value
        do { document = try StrictJSON.parse(data, limits: .evidence) } catch { throw refused(error) }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let bundle: EvidenceBundle
        do { bundle = try decoder.decode(EvidenceBundle.self, from: data) } catch {
            throw AttestationError(.malformedEvidence, "evidence bundle is not valid JSON of the expected shape: \(Self.describe(error))")
        }
        guard bundle.version == Self.currentVersion else {
            throw AttestationError(.malformedEvidence, "evidence bundle version \(bundle.version) is not supported (expected \(Self.currentVersion))")
        }
        do {
            try StrictJSON.checkFields(document, against: try StrictJSON.parse(bundle.encoded(), limits: .evidence))
        } catch {
            throw refused(error)
        }
        return bundle
    }

    public func encoded() -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return (try? encoder.encode(self)) ?? Data()
    }

    public func bytes(_ field: KeyPath<EvidenceBundle, String>, _ name: String) throws(AttestationError) -> [UInt8] {
        guard let d = Data(base64Encoded: self[keyPath: field]) else {
            throw AttestationError(.malformedEvidence, "\(name) is not base64")
        }
        return [UInt8](d)
    }

    public func nonceBytes() throws(AttestationError) -> [UInt8] {
        guard let n = Hex.decode(nonce), n.count <= 64 else { throw AttestationError(.malformedEvidence, "nonce is not hex of at most 64 bytes") }
        return n
    }

    public func selection() throws(AttestationError) -> PCRSelectionList {
        do { return try PCRSelectionList(parsing: pcrSelection) } catch {
            throw AttestationError(.malformedEvidence, "pcrSelection: \(error.reason)")
        }
    }

    /// The claimed values in the order of `selection`. A value missing or not hex is an error.
    public func values(for selection: PCRSelectionList) throws(AttestationError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for entry in selection.orderedPCRs {
            guard let text = pcrs[entry.hash.name]?[String(entry.pcr)] else {
                throw AttestationError(.malformedPCRValues, "bundle has no value for PCR \(entry.hash.name):\(entry.pcr)")
            }
            guard let v = Hex.decode(text) else {
                throw AttestationError(.malformedPCRValues, "PCR \(entry.hash.name):\(entry.pcr) is not hex")
            }
            out.append(v)
        }
        return out
    }

    /// Verifies this bundle's quote against an AK the verifier trusts (`pin`) and the verifier's own nonce.
    /// The AK that the bundle carries is only compared with the pin, never trusted; `selection` is what the
    /// verifier asked for (nil: the bundle's own).
    public func verify(pinnedAK pin: AKPin, freshness: Freshness, selection: PCRSelectionList?, previous: ClockObservation? = nil,
                       allowSHA1Signatures: Bool = false) -> QuoteVerdict {
        do throws(AttestationError) {
            let key = try pin.key(evidenceKey: try bytes(\.akPublic, "akPublic"))
            return try verify(with: key, freshness: freshness, selection: selection, previous: previous,
                              allowSHA1Signatures: allowSHA1Signatures)
        } catch {
            return .rejected(error)
        }
    }

    /// Checks only that the bundle is consistent with ITSELF: its own AK, and (with `.notChecked`) its own nonce.
    /// A forger with any restricted-looking key passes this; it proves nothing about which TPM made the quote.
    public func verifySelfConsistencyOnly(freshness: Freshness, selection: PCRSelectionList?, previous: ClockObservation? = nil,
                                          allowSHA1Signatures: Bool = false) -> QuoteVerdict {
        do throws(AttestationError) {
            let key = try AttestationKey(tpm2bPublic: try bytes(\.akPublic, "akPublic"))
            guard Hex.decode(akName) == key.name else {
                throw AttestationError(.malformedKey, "akName does not match the Name of akPublic")
            }
            return try verify(with: key, freshness: freshness, selection: selection, previous: previous,
                              allowSHA1Signatures: allowSHA1Signatures)
        } catch {
            return .rejected(error)
        }
    }

    func verify(with key: AttestationKey, freshness: Freshness, selection: PCRSelectionList?, previous: ClockObservation?,
                allowSHA1Signatures: Bool) throws(AttestationError) -> QuoteVerdict {
        let sel: PCRSelectionList
        if let selection { sel = selection } else { sel = try self.selection() }
        let expectedNonce: [UInt8]
        switch freshness {
        case .nonce(let n): expectedNonce = n
        case .notChecked: expectedNonce = try nonceBytes()
        }
        return QuoteVerifier.verify(
            attest: try bytes(\.attest, "attest"), signature: try bytes(\.signature, "signature"), key: key,
            pcrValues: try values(for: sel),
            expected: QuoteExpectation(nonce: expectedNonce, selection: sel, previous: previous,
                                       allowSHA1Signatures: allowSHA1Signatures))
    }

    /// The boot event log's bytes, nil when the bundle carries none.
    public func bootLogBytes() throws(AttestationError) -> [UInt8]? {
        guard let bootLog else { return nil }
        guard let data = Data(base64Encoded: bootLog) else {
            throw AttestationError(.malformedEvidence, "bootLog is not valid base64")
        }
        return [UInt8](data)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c): "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.valueNotFound(_, let c): "null at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let c): "corrupted at '\(c.codingPath.map(\.stringValue).joined(separator: "."))': \(c.debugDescription)"
        default: "\(error)"
        }
    }
}
