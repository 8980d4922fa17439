internal import CTSS2
package import TPMWire

/// What `smig-attest tpm info` shows.
package struct TPMInfo: Hashable, Sendable, Codable {
    package var manufacturer: String
    package var vendor: String
    package var firmwareVersion: String
    package var specFamily: String
    package var specRevision: UInt32
    /// PCR banks with at least one PCR allocated.
    package var pcrBanks: [String]
    package var transientHandles: Int
    package var loadedSessions: Int
}

extension TPMDevice {
    /// TPM2_GetCapability(TPM_CAP_TPM_PROPERTIES) for one property; nil when the TPM does not report it.
    package func property(_ id: UInt32) throws -> UInt32? {
        try withContext { ctx in
            var more: TPMI_YES_NO = 0
            var data: UnsafeMutablePointer<TPMS_CAPABILITY_DATA>?
            try check(Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, CTSS2_CAP_TPM_PROPERTIES(), id, 1, &more, &data), "Esys_GetCapability")
            defer { Esys_Free(data) }
            guard let data else { return nil }
            let props = data.pointee.data.tpmProperties
            guard props.count >= 1 else { return nil }
            let first = props.tpmProperty.0
            return first.property == id ? first.value : nil
        }
    }

    /// Handles currently in the TPM in the range starting at `first` (TPM2_HT_TRANSIENT << 24 for objects). The TPM
    /// lists the handles of the range's type, except for saved sessions (0x03), which it lists by their session
    /// handles (0x02 for an HMAC session, 0x03 for a policy session): `listedAs`, the types the answer may carry.
    package func handles(from first: UInt32, listedAs types: Set<UInt32>? = nil) throws -> [UInt32] {
        let types = types ?? [first >> 24]
        return try withContext { ctx in
            var result: [UInt32] = []
            var next = first
            while true {
                var more: TPMI_YES_NO = 0
                var data: UnsafeMutablePointer<TPMS_CAPABILITY_DATA>?
                try check(Esys_GetCapability(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, CTSS2_CAP_HANDLES(), next, 254, &more, &data), "Esys_GetCapability(handles)")
                defer { Esys_Free(data) }
                guard let data else { break }
                let list = data.pointee.data.handles
                let count = Int(list.count)
                let handles: [UInt32] = withUnsafeBytes(of: list.handle) { raw in
                    Array(raw.bindMemory(to: UInt32.self).prefix(count))
                }
                result += handles.filter { types.contains($0 >> 24) }
                guard more != 0, let last = handles.last, types.contains(last >> 24) else { break }
                next = (first & 0xFF00_0000) | ((last & 0x00FF_FFFF) + 1)   // the same range, past the last index
            }
            return result
        }
    }

    /// Transient objects currently loaded (0x80xxxxxx). On a TPM without a resource manager a non-empty list
    /// after a command returned means something was not flushed.
    package func transientHandles() throws -> [UInt32] {
        try handles(from: UInt32(CTSS2_HT_TRANSIENT()) << 24)
    }

    /// Loaded sessions (0x02xxxxxx).
    package func loadedSessions() throws -> [UInt32] {
        try handles(from: UInt32(CTSS2_HT_LOADED_SESSION()) << 24)
    }

    /// Sessions whose context was saved and that the TPM still tracks (asked for as 0x03xxxxxx in TPM_CAP_HANDLES,
    /// listed by their session handles).
    package func savedSessions() throws -> [UInt32] {
        try handles(from: UInt32(CTSS2_HT_SAVED_SESSION()) << 24,
                    listedAs: [UInt32(CTSS2_HT_LOADED_SESSION()), UInt32(CTSS2_HT_SAVED_SESSION())])
    }

    /// The PCR banks the TPM has allocated (those whose PCR 0 can be read).
    package func pcrBanks() throws -> [TPMAlgorithm] {
        [TPMAlgorithm.sha1, .sha256, .sha384, .sha512].filter { alg in
            (try? readPCRs(PCRSelectionList([PCRSelection(hash: alg, pcrs: [0])]))) != nil   // throws for a bank the TPM lacks
        }
    }

    package func info() throws -> TPMInfo {
        func ascii(_ v: UInt32?) -> String {
            guard let v else { return "" }
            let bytes = [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
            return String(decoding: bytes.filter { $0 >= 0x20 && $0 < 0x7F }, as: UTF8.self)
        }
        let fixed = CTSS2_PT_FIXED()
        let manufacturer = ascii(try property(fixed + 5))
        let vendor = (6...9).compactMap { try? property(fixed + UInt32($0)) }.map(ascii).joined()
        let fw1 = try property(fixed + 11) ?? 0
        let fw2 = try property(fixed + 12) ?? 0
        let family = ascii(try property(fixed + 0))
        let revision = try property(fixed + 2) ?? 0
        let banks = try pcrBanks().map(\.name)
        return TPMInfo(
            manufacturer: manufacturer, vendor: vendor,
            firmwareVersion: "\(fw1 >> 16).\(fw1 & 0xFFFF).\(fw2 >> 16).\(fw2 & 0xFFFF)",
            specFamily: family, specRevision: revision, pcrBanks: banks,
            transientHandles: try transientHandles().count, loadedSessions: try loadedSessions().count)
    }
}
