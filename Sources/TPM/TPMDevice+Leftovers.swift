internal import CTSS2
import Logging

extension TPMDevice {
    /// Flushes every transient object and loaded session the TPM holds for this connection, and returns how many.
    ///
    /// On a TPM without a resource manager (swtpm, `/dev/tpm0` directly) a process killed in the middle of a command
    /// sequence leaves what it loaded, and nothing flushes it when the connection closes: three transient objects
    /// fill swtpm, and every later load fails with `TPM_RC_OBJECT_MEMORY`. A long-running user of the TPM (the agent)
    /// calls this when it starts, before anything of its own is loaded. Behind a resource manager (`/dev/tpmrm0`)
    /// a connection sees only its own handles, none yet, so nothing is flushed.
    package func flushLeftovers() throws -> Int {
        let left = try transientHandles() + loadedSessions()
        try withContext { ctx in
            for handle in left {
                var tr: ESYS_TR = ESYS_TR_NONE
                let rc = Esys_TR_FromTPMPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr)
                if rc != TSS2_RC_SUCCESS {
                    let error = TSS2Error(rc: rc, function: "Esys_TR_FromTPMPublic(0x\(String(handle, radix: 16)))")
                    if error.isHandleNotFound { continue }
                    throw error
                }
                try check(Esys_FlushContext(ctx, tr), "Esys_FlushContext(0x\(String(handle, radix: 16)))")
            }
        }
        if !left.isEmpty {
            logger.notice("flushed what an earlier process left in the TPM",
                          metadata: ["tpm.handles": "\(left.map { "0x" + String($0, radix: 16) }.joined(separator: ","))"])
        }
        return left.count
    }
}
