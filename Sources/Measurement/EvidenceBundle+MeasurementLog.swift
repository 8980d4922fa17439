package import Attestation
package import Foundation
package import TPMWire

extension EvidenceBundle {
    /// The one way a host builds its evidence bundle (`smig-attest quote` and the agent): the quote, and the
    /// measurement log at `measurementLog` attached. A log that cannot be read does not stop the quote: the bundle
    /// then carries no records and says why in `eventLogUnusable` (a verifier judges such a host on its PCRs alone,
    /// which a log-less PCR 15 will not pass). `measurementLog` nil attaches none.
    package init(quotedBy hostId: String, akPublic: [UInt8], akName: [UInt8], nonce: [UInt8], attest: [UInt8],
                 signature: [UInt8], selection: PCRSelectionList, pcrValues: [[UInt8]], measurementLog: String?,
                 bootLog: [UInt8]? = nil, agentTime: Date) {
        var records: [MeasurementRecord]?
        var unusable: String?
        if let measurementLog {
            do { records = try MeasurementLog.readRecords(path: measurementLog) } catch { unusable = "\(error)" }
        }
        self.init(hostId: hostId, akPublic: akPublic, akName: akName, nonce: nonce, attest: attest, signature: signature,
                  selection: selection, pcrValues: pcrValues, eventLog: records, bootLog: bootLog, agentTime: agentTime)
        eventLogUnusable = unusable
    }
}
