public import Measurement
public import TPM
import TPMWire

/// The TPM as the measurement layer's `PCRExtender` (SHA-256 bank). Measurement does not import TPM; this
/// adapter joins them for the agent and the CLI.
public struct TPMPCRExtender: PCRExtender {
    public let device: TPMDevice

    public init(device: TPMDevice) { self.device = device }

    public func extend(pcr: Int, sha256: [UInt8]) throws {
        try device.extendPCR(pcr, digests: [(.sha256, sha256)])
    }

    public func read(pcr: Int) throws -> [UInt8] {
        try device.readPCRs(PCRSelectionList([PCRSelection(hash: .sha256, pcrs: [pcr])])).banks[.sha256, pcr] ?? []
    }
}
