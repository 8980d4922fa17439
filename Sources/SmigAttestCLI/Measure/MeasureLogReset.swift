import TPMWire
import Agent
import Foundation
import Measurement
import Policy

/// `smig-attest measure --reset-log`: a new measurement log for this boot; the old file is kept for inspection.
extension MeasureCommand {
    static let resetLogHelp = """
        Start a new measurement log for this boot, keeping the old one. Use it when 'measure' reports \
        measure.log-corrupt or measure.log-diverged: the old log is renamed to LOG.damaged-<UTC time> (nothing is \
        deleted) and the new log starts from the PCR's current value, so measuring continues. What was measured \
        before the reset can no longer be proven: a verifier replaying the log from boot judges the host untrusted \
        until it reboots. Takes the log's lock, so it never races a measuring pass.
        """

    struct ResetReport: Encodable {
        var log: String
        var kept: String?
        var pcr: Int
        var startValue: String
    }

    func startNewLog() throws {
        let path = Self.logPath(log, state: state)
        let extender = TPMPCRExtender(device: try tpm.open())
        let bootID = try MeasurementLog.currentBootID()
        let pcr = self.pcr
        let (kept, value) = try Measurer.withLogLock(path) { () throws(MeasurementError) -> (String?, [UInt8]) in
            let value: [UInt8]
            do {
                value = try extender.read(pcr: pcr)
            } catch {
                throw MeasurementError(.extendFailed, "PCR read failed: \(error)", subject: "PCR \(pcr)")
            }
            return (try MeasurementLog.reset(path: path, bootID: bootID, pcrValues: [pcr: value]), value)
        }
        let report = ResetReport(log: path, kept: kept, pcr: pcr, startValue: Hex.encode(value))
        if json { Output.json(report); return }
        Output.line("new measurement log \(path) starts from PCR \(pcr) = \(report.startValue)"
                    + (kept.map { "; the old log is kept as \($0)" } ?? ""))
    }
}
