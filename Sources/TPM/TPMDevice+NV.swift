internal import CTSS2
package import TPMWire

extension TPMDevice {
    /// The DER EK certificate stored at the type's NV index, or nil when the index is not defined.
    package func endorsementCertificate(_ type: EKType) throws -> [UInt8]? {
        try readNV(type.certificateNVIndex)
    }

    /// Reads a whole NV index (authorised by the index itself, empty password, as for EK certificates), in
    /// chunks of TPM_PT_NV_BUFFER_MAX. Returns nil when the index is not defined.
    package func readNV(_ index: UInt32) throws -> [UInt8]? {
        let chunk = max(64, min(1024, try property(CTSS2_PT_NV_BUFFER_MAX()) ?? 512))
        return try withContext { ctx in
            var nv: ESYS_TR = ESYS_TR_NONE
            let rc = Esys_TR_FromTPMPublic(ctx, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv)
            if rc != TSS2_RC_SUCCESS {
                let error = TSS2Error(rc: rc, function: "Esys_TR_FromTPMPublic(0x\(String(index, radix: 16)))")
                if error.isHandleNotFound { return nil }
                throw error
            }
            defer { Esys_TR_Close(ctx, &nv) }
            var nvPublic: UnsafeMutablePointer<TPM2B_NV_PUBLIC>?
            try check(Esys_NV_ReadPublic(ctx, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nvPublic, nil), "Esys_NV_ReadPublic")
            defer { Esys_Free(nvPublic) }
            guard let nvPublic else { throw TPMDeviceError(.unexpectedResponse, "NV_ReadPublic returned nothing") }
            let size = Int(nvPublic.pointee.nvPublic.dataSize)
            var out: [UInt8] = []
            while out.count < size {
                let n = min(Int(chunk), size - out.count)
                var data: UnsafeMutablePointer<TPM2B_MAX_NV_BUFFER>?
                try check(Esys_NV_Read(ctx, nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                       UInt16(n), UInt16(out.count), &data), "Esys_NV_Read")
                defer { Esys_Free(data) }
                guard let data, data.pointee.size > 0 else { throw TPMDeviceError(.unexpectedResponse, "NV_Read returned no data") }
                out += tupleBytes(data.pointee.buffer, count: Int(data.pointee.size))
            }
            return out
        }
    }
}
