import Attestation
import Foundation
import TPMWire

/// Quotes taken from swtpm by `smig-attest quote` (ECC P-256 and RSA-2048 AKs under the RSA EK), nonce
/// 00112233445566778899aabbccddeeff, selection sha256:0-7,15.
struct QuoteVector: Sendable, CustomStringConvertible {
    let name: String
    let bundle: EvidenceBundle
    let attest: [UInt8]
    let signature: [UInt8]
    let akPublic: [UInt8]
    let nonce: [UInt8]
    let selection: PCRSelectionList
    let values: [[UInt8]]

    var description: String { name }

    static let names = ["quote-ecc-p256", "quote-rsa2048"]

    static func load(_ name: String) throws -> QuoteVector {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors") else {
            throw VectorMissing(name: name)
        }
        let bundle = try EvidenceBundle.decode(try Data(contentsOf: url))
        let selection = try bundle.selection()
        return QuoteVector(
            name: name, bundle: bundle, attest: try bundle.bytes(\.attest, "attest"),
            signature: try bundle.bytes(\.signature, "signature"), akPublic: try bundle.bytes(\.akPublic, "akPublic"),
            nonce: try bundle.nonceBytes(), selection: selection, values: try bundle.values(for: selection))
    }

    struct VectorMissing: Error { let name: String }

    func key() throws -> AttestationKey { try AttestationKey(tpm2bPublic: akPublic) }

    func verify(attest: [UInt8]? = nil, signature: [UInt8]? = nil, values: [[UInt8]]? = nil, nonce: [UInt8]? = nil,
                selection: PCRSelectionList? = nil, previous: ClockObservation? = nil, key: AttestationKey? = nil) throws -> QuoteVerdict {
        QuoteVerifier.verify(
            attest: attest ?? self.attest, signature: signature ?? self.signature, key: try key ?? self.key(),
            pcrValues: values ?? self.values,
            expected: QuoteExpectation(nonce: nonce ?? self.nonce, selection: selection ?? self.selection, previous: previous))
    }
}
