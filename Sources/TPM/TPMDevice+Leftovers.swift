internal import CTSS2
import Logging

extension TPMDevice {
    /// Flushes every transient object, loaded session and saved session the TPM holds for this connection, and returns
    /// how many it flushed. Best effort: a handle it cannot flush (or a TPM it cannot ask) is logged, and the caller goes on.
    ///
    /// On a TPM without a resource manager (swtpm, `/dev/tpm0` directly) a process killed in the middle of a command
    /// sequence leaves what it loaded, and nothing flushes it when the connection closes: three transient objects
    /// fill swtpm, and every later load fails with `TPM_RC_OBJECT_MEMORY`. A session whose context was saved and never
    /// loaded again (`tpm2_startauthsession -S`) stays tracked until it is flushed, and once the TPM's context counter
    /// is its gap past that oldest saved context, no new session starts. A long-running user of the TPM (the agent)
    /// calls this when it starts, before anything of its own is loaded. Behind a resource manager (`/dev/tpmrm0`)
    /// a connection sees only its own handles, none yet, so nothing is flushed.
    @discardableResult
    package func flushLeftovers() -> Int {
        let left: [UInt32]
        do { left = try transientHandles() + loadedSessions() + savedSessions() } catch {
            logger.warning("cannot list what an earlier process left in the TPM", metadata: ["tpm.reason": "\(error)"])
            return 0
        }
        let flushed = withContext { ctx in
            left.filter { handle in
                let name = "0x" + String(handle, radix: 16)
                var tr: ESYS_TR = ESYS_TR_NONE
                var rc = Esys_TR_FromTPMPublic(ctx, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr)
                if rc == TSS2_RC_SUCCESS {
                    rc = Esys_FlushContext(ctx, tr)
                    if rc != TSS2_RC_SUCCESS { Esys_TR_Close(ctx, &tr) }
                }
                guard rc == TSS2_RC_SUCCESS else {
                    let error = TSS2Error(rc: rc, function: "flushing \(name)")
                    if !error.isHandleNotFound {
                        logger.warning("cannot flush what an earlier process left in the TPM", metadata: ["tpm.handle": "\(name)", "tpm.reason": "\(error)"])
                    }
                    return false
                }
                return true
            }
        }
        if !flushed.isEmpty {
            logger.notice("flushed what an earlier process left in the TPM",
                          metadata: ["tpm.handles": "\(flushed.map { "0x" + String($0, radix: 16) }.joined(separator: ","))"])
        }
        return flushed.count
    }
}
