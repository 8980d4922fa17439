import Measurement
package import TPM
import TPMWire

/// The TPM as the measurement layer's `PCRExtender` (SHA-256 bank). Measurement does not import TPM; this
/// adapter joins them for the agent and the CLI.
package struct TPMPCRExtender: PCRExtender {
    package let device: TPMDevice

    package init(device: TPMDevice) { self.device = device }

    package func extend(pcr: Int, sha256: [UInt8]) throws {
        try device.extendPCR(pcr, digests: [(.sha256, sha256)])
    }

    package func read(pcr: Int) throws -> [UInt8] {
        try device.readPCRs(PCRSelectionList([PCRSelection(hash: .sha256, pcrs: [pcr])])).banks[.sha256, pcr] ?? []
    }
}
