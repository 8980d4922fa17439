import Attestation
import TPMWire
import Foundation

extension RegionError.Code {
    /// A rebooted host's evidence carries no boot log: it stays `rebooted`.
    package static let bootLogMissing = Self(rawValue: "reboot.boot-log-missing")
}

extension RegionState {
    enum RebootedBootLogCheck {
        case replays(BootEventLog)
        /// The host stays `rebooted`: `eventlog.*` when the log does not parse or replay, `reboot.boot-log-missing`.
        case refused(code: String, detail: String)
    }

    /// A rebooted host is trusted again only when its evidence carries the TCG boot event log and that log replays
    /// to the boot PCRs of the verified quote (PCRs 0-9 and 14 as far as quoted, and every PCR the log extends).
    static func rebootedBootLog(_ bundle: EvidenceBundle, _ quote: VerifiedQuote) -> RebootedBootLogCheck {
        guard let text = bundle.bootLog else {
            return .refused(code: RegionError.Code.bootLogMissing.rawValue,
                            detail: "the TPM was reset: the host stays rebooted until its evidence carries a boot log that replays to the quoted boot PCRs, or the operator accepts the reboot (rctcb accept-reboot HOST --reason TEXT)")
        }
        guard let data = Data(base64Encoded: text) else {
            return .refused(code: "evidence.malformed", detail: "bootLog is not base64")
        }
        let bytes = [UInt8](data)
        let check = BootLogVerification(bytes: bytes, against: PCRBanks(quote))
        guard check.matches, let log = try? BootEventLog(bytes: bytes) else {
            return .refused(code: check.code ?? "eventlog.replay-mismatch", detail: check.summary)
        }
        return .replays(log)
    }
}
