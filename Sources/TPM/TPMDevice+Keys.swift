internal import CTSS2
package import TPMWire

/// An attestation key as saved between runs: TPM2B_PUBLIC and TPM2B_PRIVATE wire bytes, and the EK it was
/// created under (the AK is loaded under a re-created EK each time, so no persistent handle is used).
package struct AttestationKeyBlob: Hashable, Sendable, Codable {
    package var ekType: EKType
    package var akType: AKType
    package var publicBytes: [UInt8]
    package var privateBytes: [UInt8]
    /// The file it was read from (not stored in it), so a key that does not load can be named.
    package var source: String?

    enum CodingKeys: String, CodingKey { case ekType, akType, publicBytes, privateBytes }

    package init(ekType: EKType, akType: AKType, publicBytes: [UInt8], privateBytes: [UInt8]) {
        self.ekType = ekType
        self.akType = akType
        self.publicBytes = publicBytes
        self.privateBytes = privateBytes
    }

    package var akPublic: Public {
        get throws { try Public(wireBytes: publicBytes) }
    }
}

/// A transient object loaded for the duration of a `with…` call. Its handle is flushed when the call returns.
package struct LoadedKey: Sendable {
    let handle: UInt32
    package let publicKey: Public
}

extension TPMDevice {
    /// TPM2_CreatePrimary in the endorsement hierarchy with an EK Credential Profile template; the EK is flushed
    /// when `body` returns or throws.
    package func withEndorsementKey<R>(_ type: EKType, _ body: (LoadedKey) throws -> R) throws -> R {
        try withContext { ctx in
            let ek = try createEK(ctx, type)
            defer { flush(ctx, ek.handle) }
            return try body(ek)
        }
    }

    func createEK(_ ctx: OpaquePointer, _ type: EKType) throws -> LoadedKey {
        var template = try CMarshal.publicTemplate(type.template)
        var sensitive = try CMarshal.emptySensitive()
        var outside = try CMarshal.data([])
        var creationPCR = try CMarshal.pcrSelection(PCRSelectionList([]))
        var handle: ESYS_TR = ESYS_TR_NONE
        var outPublic: UnsafeMutablePointer<TPM2B_PUBLIC>?
        try check(Esys_CreatePrimary(ctx, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                     &sensitive, &template, &outside, &creationPCR,
                                     &handle, &outPublic, nil, nil, nil), "Esys_CreatePrimary(\(type.rawValue) EK)")
        defer { Esys_Free(outPublic) }
        do {
            guard let outPublic else { throw TPMDeviceError(.unexpectedResponse, "CreatePrimary returned no public area") }
            let bytes = try CMarshal.encode(UnsafePointer(outPublic), Tss2_MU_TPM2B_PUBLIC_Marshal, "TPM2B_PUBLIC")
            return LoadedKey(handle: handle, publicKey: try Public(wireBytes: bytes))
        } catch {
            flush(ctx, handle)
            throw error
        }
    }

    /// Starts a policy session satisfied by PolicySecret(TPM_RH_ENDORSEMENT) — the authorisation the low-range
    /// EK templates require for USER-role use — runs `body` with it, and flushes it.
    func withEndorsementPolicy<R>(_ ctx: OpaquePointer, _ body: (ESYS_TR) throws -> R) throws -> R {
        var session: ESYS_TR = ESYS_TR_NONE
        var symmetric = CTSS2_SymDefNull()
        try check(Esys_StartAuthSession(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                        nil, CTSS2_SE_POLICY(), &symmetric, CTSS2_ALG_SHA256(), &session),
                  "Esys_StartAuthSession")
        defer { flush(ctx, session) }
        try check(Esys_PolicySecret(ctx, ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                    nil, nil, nil, 0, nil, nil), "Esys_PolicySecret(endorsement)")
        return try body(session)
    }

    /// The session authorising USER-role use of the EK: a PolicySecret session for low-range EKs, the empty
    /// password for high-range ones.
    func withEKAuthorization<R>(_ ctx: OpaquePointer, _ type: EKType, _ body: (ESYS_TR) throws -> R) throws -> R {
        if type.needsPolicySession { return try withEndorsementPolicy(ctx, body) }
        return try body(ESYS_TR_PASSWORD)
    }

    /// Creates an attestation key (restricted signing key) under the EK, as tpm2_createak does, and returns its
    /// blobs for saving. Nothing stays loaded in the TPM.
    package func createAttestationKey(_ akType: AKType, under ekType: EKType) throws -> AttestationKeyBlob {
        try withContext { ctx in
            let ek = try createEK(ctx, ekType)
            defer { flush(ctx, ek.handle) }
            var template = try CMarshal.publicTemplate(akType.template)
            var sensitive = try CMarshal.emptySensitive()
            var outside = try CMarshal.data([])
            var creationPCR = try CMarshal.pcrSelection(PCRSelectionList([]))
            var outPrivate: UnsafeMutablePointer<TPM2B_PRIVATE>?
            var outPublic: UnsafeMutablePointer<TPM2B_PUBLIC>?
            try withEKAuthorization(ctx, ekType) { session in
                try check(Esys_Create(ctx, ek.handle, session, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &template,
                                      &outside, &creationPCR, &outPrivate, &outPublic, nil, nil, nil),
                          "Esys_Create(\(akType.rawValue) AK)")
            }
            defer { Esys_Free(outPrivate); Esys_Free(outPublic) }
            guard let outPrivate, let outPublic else { throw TPMDeviceError(.unexpectedResponse, "Create returned no key") }
            return AttestationKeyBlob(
                ekType: ekType, akType: akType,
                publicBytes: try CMarshal.encode(UnsafePointer(outPublic), Tss2_MU_TPM2B_PUBLIC_Marshal, "TPM2B_PUBLIC"),
                privateBytes: try CMarshal.encode(UnsafePointer(outPrivate), Tss2_MU_TPM2B_PRIVATE_Marshal, "TPM2B_PRIVATE"))
        }
    }

    /// Loads a saved AK under a freshly created EK, runs `body` with it, and flushes both.
    package func withAttestationKey<R>(_ blob: AttestationKeyBlob, _ body: (LoadedKey) throws -> R) throws -> R {
        try withContext { ctx in
            let ak = try loadAK(ctx, blob)
            defer { flush(ctx, ak.handle) }
            return try body(ak)
        }
    }

    func loadAK(_ ctx: OpaquePointer, _ blob: AttestationKeyBlob) throws -> LoadedKey {
        let akPublic: Public
        do { akPublic = try blob.akPublic } catch {
            throw TPMDeviceError(.keyState, "saved AK public area is malformed: \(error)")
        }
        var inPublic = try CMarshal.decode(blob.publicBytes, Tss2_MU_TPM2B_PUBLIC_Unmarshal, "TPM2B_PUBLIC")
        var inPrivate: TPM2B_PRIVATE
        do {
            inPrivate = try CMarshal.decode(blob.privateBytes, Tss2_MU_TPM2B_PRIVATE_Unmarshal, "TPM2B_PRIVATE")
        } catch {
            throw TPMDeviceError(.keyState, "saved AK private blob is malformed: \(error)")
        }
        let ek = try createEK(ctx, blob.ekType)
        defer { flush(ctx, ek.handle) }
        var handle: ESYS_TR = ESYS_TR_NONE
        do {
            try withEKAuthorization(ctx, blob.ekType) { session in
                try check(Esys_Load(ctx, ek.handle, session, ESYS_TR_NONE, ESYS_TR_NONE, &inPrivate, &inPublic, &handle),
                          "Esys_Load(AK)")
            }
        } catch {
            // The private blob is bound to the EK it was created under: an integrity failure here means the file
            // names the wrong EK type, or the TPM's endorsement hierarchy changed since provisioning.
            throw TPMDeviceError(.keyState, "the attestation key in \(blob.source ?? "the key file") does not load under the \(blob.ekType.rawValue) EK (its ekType may be wrong, or the TPM was cleared; run 'smig-attest tpm provision' again): \(error)")
        }
        return LoadedKey(handle: handle, publicKey: akPublic)
    }
}
