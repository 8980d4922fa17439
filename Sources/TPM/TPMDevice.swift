internal import CTSS2
import Foundation
package import Logging
import TPMWire

/// A TPM reached through a TCTI (`swtpm:host=127.0.0.1,port=2321`, `device:/dev/tpmrm0`, `mssim:...`).
///
/// Owns one ESYS context and its TCTI context; both are freed in `deinit`. Every transient object and session
/// this type creates is flushed before the call that created it returns, on every path.
///
/// `@unchecked Sendable`: the ESYS context is not thread-safe, so every use of it happens under `lock`.
/// ESYS calls block; keep them off event loops.
package final class TPMDevice: @unchecked Sendable {
    /// What to check when a TCTI does not open, by its kind.
    static func tctiHint(_ tcti: String) -> String {
        if tcti.hasPrefix("swtpm:") || tcti.hasPrefix("mssim:") {
            let config = tcti.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init) ?? ""
            let fields = Dictionary(config.split(separator: ",").compactMap { kv -> (String, String)? in
                let p = kv.split(separator: "=", maxSplits: 1)
                return p.count == 2 ? (String(p[0]), String(p[1])) : nil
            }, uniquingKeysWith: { a, _ in a })
            return "is swtpm running at \(fields["host"] ?? "127.0.0.1"):\(fields["port"] ?? "2321")? (swtpm-setup/swtpm-ctl start)"
        }
        if tcti.hasPrefix("device:") || tcti == "device" {
            return "does \(tcti.dropFirst("device:".count).isEmpty ? "/dev/tpmrm0" : String(tcti.dropFirst("device:".count))) exist and can this user open it (root, or the tss group)?"
        }
        return "check --tcti or $SMIG_TCTI: device:/dev/tpmrm0, or swtpm:host=127.0.0.1,port=2321"
    }

    /// The default TCTI: the kernel's resource manager.
    package static let defaultTCTI = "device:/dev/tpmrm0"

    /// The TCTI from the environment (`SMIG_TCTI`), or the default.
    package static var environmentTCTI: String {
        ProcessInfo.processInfo.environment["SMIG_TCTI"] ?? defaultTCTI
    }

    package let tcti: String
    let logger: Logger
    private let lock = NSRecursiveLock()
    private var tctiContext: OpaquePointer?
    private var esys: OpaquePointer?

    package init(tcti: String = TPMDevice.environmentTCTI, logger: Logger = Logger(label: "smig.tpm")) throws {
        self.tcti = tcti
        self.logger = logger
        // tpm2-tss logs failures to stderr itself; ours carry the decoded response code already, so keep the
        // library quiet unless the operator asked for its log (TSS2_LOG set).
        if getenv("TSS2_LOG") == nil { setenv("TSS2_LOG", "all+none", 0) }
        var tctiCtx: OpaquePointer?
        let rc = Tss2_TctiLdr_Initialize(tcti, &tctiCtx)
        guard rc == TSS2_RC_SUCCESS, let tctiCtx else {
            throw TPMDeviceError(.tctiUnavailable, "cannot open TCTI '\(tcti)': " + TSS2Error(rc: rc, function: "Tss2_TctiLdr_Initialize").decoded
                                 + " (hint: \(Self.tctiHint(tcti)))")
        }
        var ctx: OpaquePointer?
        let rc2 = Esys_Initialize(&ctx, tctiCtx, nil)
        guard rc2 == TSS2_RC_SUCCESS, ctx != nil else {
            var t: OpaquePointer? = tctiCtx
            Tss2_TctiLdr_Finalize(&t)
            throw TSS2Error(rc: rc2, function: "Esys_Initialize")
        }
        self.tctiContext = tctiCtx
        self.esys = ctx
    }

    deinit {
        if esys != nil { Esys_Finalize(&esys) }
        if tctiContext != nil { Tss2_TctiLdr_Finalize(&tctiContext) }
    }

    /// Runs `body` with exclusive use of the ESYS context.
    func withContext<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(esys!)
    }

    /// TPM2_GetRandom, looping until `count` bytes have been returned.
    package func random(_ count: Int) throws -> [UInt8] {
        guard (0...4096).contains(count) else { throw TPMDeviceError(.badArgument, "random: count \(count) not in 0...4096") }
        return try withContext { ctx in
            var out: [UInt8] = []
            while out.count < count {
                var bytes: UnsafeMutablePointer<TPM2B_DIGEST>?
                try check(Esys_GetRandom(ctx, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, UInt16(min(32, count - out.count)), &bytes), "Esys_GetRandom")
                defer { Esys_Free(bytes) }
                guard let b = bytes else { throw TPMDeviceError(.unexpectedResponse, "GetRandom returned nothing") }
                out += tupleBytes(b.pointee.buffer, count: Int(b.pointee.size))
            }
            return out
        }
    }

    /// Flushes a transient object or session, logging (not throwing) on failure: used on cleanup paths.
    func flush(_ ctx: OpaquePointer, _ handle: ESYS_TR) {
        guard handle != ESYS_TR_NONE else { return }
        let rc = Esys_FlushContext(ctx, handle)
        if rc != TSS2_RC_SUCCESS {
            logger.warning("flush failed", metadata: ["tpm.rc": "\(TSS2Error(rc: rc, function: "Esys_FlushContext"))"])
        }
    }
}

/// Copies the first `count` bytes of a C fixed-size array (imported as a tuple).
func tupleBytes<T>(_ tuple: T, count: Int) -> [UInt8] {
    withUnsafeBytes(of: tuple) { raw in Array(raw.prefix(max(0, min(count, raw.count)))) }
}
