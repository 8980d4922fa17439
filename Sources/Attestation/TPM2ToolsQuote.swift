public import TPMWire

/// A quote as tpm2-tools writes it (`tpm2_quote -m MSG -s SIG -o PCRS`), verified against an AK the verifier
/// trusts and a nonce it issued: the same checks as an evidence bundle, with the three files as input.
public enum TPM2ToolsQuote {
    public struct Outcome: Sendable {
        public var verdict: QuoteVerdict
        /// The pinned AK's Name (empty for a bare public key).
        public var akName: [UInt8]
        /// The selection the quote was checked against (the given one, else the PCR file's).
        public var selection: PCRSelectionList?
    }

    /// `message` (TPMS_ATTEST), `signature` (TPMT_SIGNATURE) and `pcrFile` (tpm2-tools' PCR values) against
    /// `pinnedAK` and `freshness` (with `.notChecked`, the message's own extraData is taken as the nonce: the
    /// quote may be a replay). `selection`, when given, must be what the PCR file holds (else that is the
    /// rejection: `quote.selection-mismatch`, or `quote.bank-mismatch` when the banks differ).
    public static func verify(message: [UInt8], signature: [UInt8], pcrFile pcrFileBytes: [UInt8], pinnedAK: AKPin,
                              freshness: Freshness, selection: PCRSelectionList?, previous: ClockObservation?,
                              allowSHA1Signatures: Bool) -> Outcome {
        let pcrFile: TPM2ToolsPCRFile
        let key: AttestationKey
        do {
            pcrFile = try TPM2ToolsPCRFile(bytes: pcrFileBytes)
            key = try pinnedAK.key(evidenceKey: nil)
        } catch {
            return Outcome(verdict: .rejected(error), akName: [], selection: selection)
        }
        let expected = selection ?? pcrFile.selection
        guard pcrFile.selection.selectsSame(as: expected) else {
            let banks = { (l: PCRSelectionList) in l.selections.filter { !$0.pcrs.isEmpty }.map(\.hash) }
            let code: AttestationError.Code = banks(pcrFile.selection) == banks(expected) ? .selectionMismatch : .bankMismatch
            return Outcome(verdict: .rejected(AttestationError(code, "the PCR file holds \(pcrFile.selection), expected \(expected)")),
                           akName: key.name, selection: expected)
        }
        let nonce: [UInt8]
        switch freshness {
        case .nonce(let issued): nonce = issued
        // A message that does not parse is refused below (quote.malformed-attest), with its offset.
        case .notChecked: nonce = (try? Attest(wireBytes: message))?.extraData ?? []
        }
        let verdict = QuoteVerifier.verify(
            attest: message, signature: signature, key: key, pcrValues: pcrFile.values,
            expected: QuoteExpectation(nonce: nonce, selection: expected, previous: previous, allowSHA1Signatures: allowSHA1Signatures))
        return Outcome(verdict: verdict, akName: key.name, selection: expected)
    }
}
