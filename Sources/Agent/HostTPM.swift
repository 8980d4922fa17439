package import Attestation
import Foundation
import Measurement
package import TPM
package import TPMWire

/// The host's TPM as the agent uses it: one caller at a time (swtpm and the kernel's resource manager serve one
/// command stream per connection), in turns (``TPMTurns``: the RC-TCB's challenges and the host's own work before
/// ring neighbours' requests), ESYS calls kept off the async executors.
package final class HostTPM: @unchecked Sendable {
    // @unchecked Sendable: `device` is used only on `queue`, a serial queue.
    let device: TPMDevice
    package let blob: AttestationKeyBlob
    package let hostId: String
    package let stateDirectory: String
    let queue = DispatchQueue(label: "smig-attest.tpm")
    let turns = TPMTurns()

    /// The TCG boot event log attached to every bundle, or nil.
    package let bootLogPath: String?

    /// Opens the TPM. `flushingLeftovers` (the agent's long-running process, when it starts): first flushes what an
    /// earlier agent, killed mid-command, left loaded in it (``TPM/TPMDevice/flushLeftovers()``), which on a TPM
    /// without a resource manager would fill its slots. Not for a short command (`agent enrol`) that may run beside
    /// a running agent: it would flush what that agent has loaded.
    package init(tcti: String, stateDirectory: String, hostId: String, bootLogPath: String? = nil, flushingLeftovers: Bool = false) throws {
        device = try TPMDevice(tcti: tcti)
        if flushingLeftovers { device.flushLeftovers() }
        blob = try AttestationKeyStore(directory: URL(fileURLWithPath: stateDirectory)).load()
        self.hostId = hostId
        self.stateDirectory = stateDirectory
        self.bootLogPath = bootLogPath
    }

    package var measurementLogPath: String { MeasurementLog.path(inStateDirectory: stateDirectory) }

    /// Runs `body` with the device on the TPM's queue, when it is `lane`'s turn.
    package func run<T: Sendable>(_ lane: TPMTurns.Lane = .first, _ body: @escaping @Sendable (TPMDevice) throws -> T) async throws -> T {
        try await turns.withTurn(lane) {
            try await withCheckedThrowingContinuation { continuation in
                queue.async { [device] in continuation.resume(with: Result { try body(device) }) }
            }
        }
    }

    /// Answers a challenge (in `lane`'s turn): a quote over `nonce` and `selection`, with the measurement log and the
    /// boot log (when one is configured and readable), as an evidence bundle.
    package func evidence(nonce: [UInt8], selection: PCRSelectionList, lane: TPMTurns.Lane = .first) async throws -> EvidenceBundle {
        let blob = self.blob, hostId = self.hostId, logPath = measurementLogPath, bootLogPath = self.bootLogPath
        return try await run(lane) { device in
            let (quote, values) = try device.withAttestationKey(blob) { ak in
                try device.quoteWithValues(with: ak, nonce: nonce, selection: selection)
            }
            return EvidenceBundle(quotedBy: hostId, akPublic: blob.publicBytes, akName: try blob.akPublic.name, nonce: nonce,
                                  attest: quote.attest, signature: quote.signature, selection: selection,
                                  pcrValues: values.ordered,
                                  measurementLog: FileManager.default.fileExists(atPath: logPath) ? logPath : nil,
                                  bootLog: bootLogPath.flatMap { FileManager.default.contents(atPath: $0) }.map { [UInt8]($0) },
                                  agentTime: Date())
        }
    }
}
