import Attestation
import Policy
import TPMWire

/// `boot-log`: parses the TCG binary boot event log and replays it into PCRs 0–9; one measurement per PCR
/// (`boot-log:pcr0` … `boot-log:pcr9`, the replayed SHA-256 value) plus `boot-log` (digest of the log file).
package struct BootLogSource: MeasurementSource {
    package static let defaultPath = "/sys/kernel/security/tpm0/binary_bios_measurements"
    package let kind = "boot-log"
    package var path: String
    package var pcrs: ClosedRange<Int>

    package init(path: String = BootLogSource.defaultPath, pcrs: ClosedRange<Int> = 0...9) {
        self.path = path
        self.pcrs = pcrs
    }

    package func measure() throws(MeasurementError) -> [NamedMeasurement] {
        let bytes = try POSIXFile.readAll(path, limit: 64 << 20)
        let log: BootEventLog
        do {
            log = try BootEventLog(bytes: bytes)
        } catch {
            // The offset goes in its own field; the message names the event, so the location is printed once.
            let event = error.record.map { " (event \($0))" } ?? ""
            throw MeasurementError(.bootLog, "\(error.code): \(error.reason)\(event)", subject: path, offset: error.offset)
        }
        let replayed = log.replay()
        guard replayed.values[.sha256] != nil else {
            throw MeasurementError(.bootLog, "the log has no sha256 bank", subject: path)
        }
        var out = [NamedMeasurement(source: kind, name: "boot-log", sha256: Digests.sha256(bytes),
                               detail: "\(log.events.count) events, \(bytes.count) bytes")]
        for pcr in pcrs {
            let value = replayed[.sha256, pcr] ?? PCRBanks.resetValue(.sha256, pcr: pcr)
            let count = log.events.filter { $0.pcrIndex == pcr && $0.extends }.count
            out.append(NamedMeasurement(source: kind, name: "boot-log:pcr\(pcr)", sha256: value, value: Hex.encode(value),
                                   detail: "sha256 PCR \(pcr) replayed from \(count) events"))
        }
        return out
    }
}
