internal import CTSS2
import TPMWire

extension TPMDeviceError.Code {
    /// TPM2_ActivateCredential refused the credential: it was made for another EK or another object Name, or it
    /// was altered.
    package static let credentialRejected = Self(rawValue: "tpm.credential-rejected")
}

extension TPMDevice {
    /// TPM2_ActivateCredential (TPM 2.0 Part 3, 12.5): recovers the credential the RC-TCB encrypted to this TPM's EK
    /// and bound to the AK's Name. The EK is re-created from its template, the AK loaded under it; the AK is
    /// authorised by its (empty) password, the EK by PolicySecret(endorsement) for low-range templates. Both are
    /// flushed on every path.
    ///
    /// `idObject` is a TPM2B_ID_OBJECT and `encryptedSecret` a TPM2B_ENCRYPTED_SECRET, as wire bytes.
    package func activateCredential(ak blob: AttestationKeyBlob, idObject: [UInt8], encryptedSecret: [UInt8]) throws -> [UInt8] {
        var credentialBlob = try CMarshal.decode(idObject, Tss2_MU_TPM2B_ID_OBJECT_Unmarshal, "TPM2B_ID_OBJECT")
        var secret = try CMarshal.decode(encryptedSecret, Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal, "TPM2B_ENCRYPTED_SECRET")
        return try withContext { ctx in
            let ak = try loadAK(ctx, blob)
            defer { flush(ctx, ak.handle) }
            let ek = try createEK(ctx, blob.ekType)
            defer { flush(ctx, ek.handle) }
            var certInfo: UnsafeMutablePointer<TPM2B_DIGEST>?
            do {
                try withEKAuthorization(ctx, blob.ekType) { session in
                    try check(Esys_ActivateCredential(ctx, ak.handle, ek.handle, ESYS_TR_PASSWORD, session, ESYS_TR_NONE,
                                                      &credentialBlob, &secret, &certInfo), "Esys_ActivateCredential")
                }
            } catch let e as TSS2Error {
                throw TPMDeviceError(.credentialRejected, "the TPM refused the credential (made for another EK or AK, or altered): \(e)")
            }
            defer { Esys_Free(certInfo) }
            guard let certInfo else { throw TPMDeviceError(.unexpectedResponse, "ActivateCredential returned nothing") }
            return tupleBytes(certInfo.pointee.buffer, count: Int(certInfo.pointee.size))
        }
    }
}
