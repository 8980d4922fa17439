import Agent
import Attestation
import Foundation
import SmigTestSupport
import Swtpm
import Testing
import TPM
import TPMWire

/// An agent killed in the middle of a quote leaves the objects it loaded in a TPM that has no resource manager
/// (swtpm, or `/dev/tpm0` directly): such a TPM holds three transient objects, and nothing flushes them when the
/// connection closes. The agent started again clears what is left, so its quotes go on.
@Suite("An agent started again on a TPM without a resource manager", .serialized)
struct AgentTPMLeftoversTests {
    @Test func objectsAKilledAgentLeftAreFlushedWhenItStartsAgain() async throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        // What a killed process leaves: transient objects loaded and never flushed (tpm2-tools does not flush a
        // context it saves; the swtpm connection closes with the process).
        for i in 0..<3 {
            let leak = try w.tool("tpm2_createprimary", ["-C", "o", "-c", w.path("left-\(i).ctx")])
            #expect(leak.status == 0, "\(leak.output)")
        }
        let before = try w.tool("tpm2_getcap", ["handles-transient"])
        #expect(before.output.split(separator: "\n").count == 3, "\(before.output)")

        // Without flushing (a short command beside a running agent), the agent's quote cannot load its keys.
        let beside = try HostTPM(tcti: w.swtpm.tcti, stateDirectory: w.state, hostId: "agent-host")
        await #expect(throws: (any Error).self) {
            _ = try await beside.evidence(nonce: Array(repeating: 3, count: 16), selection: try PCRSelectionList(parsing: "sha256:0-7,15"))
        }
        // `agent run` opens its TPM flushing what is left.
        let host = try HostTPM(tcti: w.swtpm.tcti, stateDirectory: w.state, hostId: "agent-host", flushingLeftovers: true)
        let bundle = try await host.evidence(nonce: Array(repeating: 3, count: 16), selection: try PCRSelectionList(parsing: "sha256:0-7,15"))
        #expect(bundle.nonce == Hex.encode(Array(repeating: 3, count: 16)))
        // Its own objects are flushed after each quote, as before.
        let after = try await host.run { device in try device.transientHandles() }
        #expect(after.isEmpty, "\(after)")
    }
}
