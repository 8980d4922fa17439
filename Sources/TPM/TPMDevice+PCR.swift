internal import CTSS2
package import TPMWire

/// What one TPM2_PCR_Read sequence returned: the values (``PCRBanks``, the toolkit's one PCR-values type) of
/// `selection`, read while the TPM's pcrUpdateCounter stayed `updateCounter`.
package struct PCRRead: Hashable, Sendable {
    package var updateCounter: UInt32
    package var selection: PCRSelectionList
    package var banks: PCRBanks

    package init(updateCounter: UInt32, selection: PCRSelectionList, banks: PCRBanks) {
        self.updateCounter = updateCounter
        self.selection = selection
        self.banks = banks
    }

    /// The values in the order of `selection.orderedPCRs`: the wire order of a quote's PCR values and of
    /// tpm2-tools' PCR file. Every selected PCR was read, so none is missing.
    package var ordered: [[UInt8]] { banks.ordered(selection) ?? [] }
}

extension TPMDevice {
    /// TPM2_PCR_Read of any selection, repeated until every selected PCR is read (a TPM returns at most 8
    /// digests per call). Throws if the TPM's pcrUpdateCounter changes between calls.
    package func readPCRs(_ selection: PCRSelectionList) throws -> PCRRead {
        try withContext { ctx in try readPCRs(ctx, selection) }
    }

    func readPCRs(_ ctx: OpaquePointer, _ selection: PCRSelectionList) throws -> PCRRead {
        var pending = selection.selections.filter { !$0.pcrs.isEmpty }
        var read = PCRBanks()
        var counter: UInt32?
        var rounds = 0
        while !pending.isEmpty {
            rounds += 1
            guard rounds <= 64 else { throw TPMDeviceError(.unexpectedResponse, "PCR_Read made no progress") }
            var input = try CMarshal.pcrSelection(PCRSelectionList(pending))
            var updateCounter: UInt32 = 0
            var outSel: UnsafeMutablePointer<TPML_PCR_SELECTION>?
            var outValues: UnsafeMutablePointer<TPML_DIGEST>?
            try check(Esys_PCR_Read(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &input, &updateCounter, &outSel, &outValues), "Esys_PCR_Read")
            defer { Esys_Free(outSel); Esys_Free(outValues) }
            guard let outSel, let outValues else { throw TPMDeviceError(.unexpectedResponse, "PCR_Read returned nothing") }
            if let c = counter, c != updateCounter {
                throw TPMDeviceError(.unexpectedResponse, "PCRs changed while being read (pcrUpdateCounter \(c) → \(updateCounter))")
            }
            counter = updateCounter
            let sel = try PCRSelectionList(wireBytes: try CMarshal.encode(UnsafePointer(outSel), Tss2_MU_TPML_PCR_SELECTION_Marshal, "TPML_PCR_SELECTION"))
            let values = try DigestList(wireBytes: try CMarshal.encode(UnsafePointer(outValues), Tss2_MU_TPML_DIGEST_Marshal, "TPML_DIGEST"))
            let got = sel.orderedPCRs
            guard got.count == values.digests.count, !got.isEmpty else {
                throw TPMDeviceError(.unexpectedResponse, "PCR_Read returned \(values.digests.count) values for \(got.count) PCRs")
            }
            for (i, entry) in got.enumerated() { read[entry.hash, entry.pcr] = values.digests[i] }
            pending = pending.compactMap { s in
                let rest = s.pcrs.filter { read[s.hash, $0] == nil }
                return rest.isEmpty ? nil : PCRSelection(hash: s.hash, pcrs: rest, sizeofSelect: s.sizeofSelect)
            }
            // A bank the TPM does not have comes back empty: stop rather than loop.
            if got.isEmpty { break }
        }
        for entry in selection.orderedPCRs where read[entry.hash, entry.pcr] == nil {
            throw TPMDeviceError(.badArgument, "the TPM has no PCR \(entry.pcr) in bank \(entry.hash)")
        }
        return PCRRead(updateCounter: counter ?? 0, selection: selection, banks: read)
    }

    /// TPM2_PCR_Extend of one PCR with one digest per bank.
    package func extendPCR(_ index: Int, digests: [(TPMAlgorithm, [UInt8])]) throws {
        guard (0..<24).contains(index) else { throw TPMDeviceError(.badArgument, "PCR index \(index) not in 0...23") }
        guard !digests.isEmpty, digests.count <= 16 else { throw TPMDeviceError(.badArgument, "extend needs 1 to 16 digests") }
        var w = WireWriter()
        w.write(UInt32(digests.count))
        for (alg, d) in digests {
            guard alg.digestSize == d.count else {
                throw TPMDeviceError(.badArgument, "a \(alg) digest is \(alg.digestSize ?? 0) bytes, got \(d.count)")
            }
            w.write(alg.rawValue)
            w.write(raw: d)
        }
        var values = try CMarshal.decode(w.bytes, Tss2_MU_TPML_DIGEST_VALUES_Unmarshal, "TPML_DIGEST_VALUES")
        try withContext { ctx in
            try check(Esys_PCR_Extend(ctx, CTSS2_TR_PCR(UInt32(index)), ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &values), "Esys_PCR_Extend")
        }
    }
}
