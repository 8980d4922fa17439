internal import CTSS2
package import TPMWire

/// What TPM2_Quote returns, as exact wire bytes.
package struct QuoteResult: Hashable, Sendable {
    /// TPMS_ATTEST as signed (the body of TPM2B_ATTEST, without its size).
    package var attest: [UInt8]
    /// TPMT_SIGNATURE.
    package var signature: [UInt8]
}

extension TPMDevice {
    /// TPM2_Quote over `nonce` (qualifyingData, at most 64 bytes) and `selection`, with the AK's own scheme.
    package func quote(with ak: LoadedKey, nonce: [UInt8], selection: PCRSelectionList) throws -> QuoteResult {
        guard nonce.count <= 64 else { throw TPMDeviceError(.badArgument, "nonce of \(nonce.count) bytes; at most 64") }
        var qualifying = try CMarshal.data(nonce)
        var scheme = CTSS2_SigSchemeNull()
        var pcrSelect = try CMarshal.pcrSelection(selection)
        return try withContext { ctx in
            var quoted: UnsafeMutablePointer<TPM2B_ATTEST>?
            var signature: UnsafeMutablePointer<TPMT_SIGNATURE>?
            try check(Esys_Quote(ctx, ak.handle, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                 &qualifying, &scheme, &pcrSelect, &quoted, &signature), "Esys_Quote")
            defer { Esys_Free(quoted); Esys_Free(signature) }
            guard let quoted, let signature else { throw TPMDeviceError(.unexpectedResponse, "Quote returned nothing") }
            return QuoteResult(
                attest: tupleBytes(quoted.pointee.attestationData, count: Int(quoted.pointee.size)),
                signature: try CMarshal.encode(UnsafePointer(signature), Tss2_MU_TPMT_SIGNATURE_Marshal, "TPMT_SIGNATURE"))
        }
    }

    /// A quote and the PCR values it covers, read so that no extend fell between them: PCRs are read before and
    /// after the quote and the read is retried if the TPM's pcrUpdateCounter moved.
    package func quoteWithValues(with ak: LoadedKey, nonce: [UInt8], selection: PCRSelectionList) throws -> (QuoteResult, PCRRead) {
        for _ in 0..<5 {
            let before = try readPCRs(selection)
            let q = try quote(with: ak, nonce: nonce, selection: selection)
            let after = try readPCRs(selection)
            if before.updateCounter == after.updateCounter { return (q, after) }
        }
        throw TPMDeviceError(.unexpectedResponse, "PCRs kept changing during five quote attempts")
    }
}
