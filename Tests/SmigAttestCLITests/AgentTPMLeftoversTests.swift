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

    /// A session whose context an earlier process saved and never loaded again (`tpm2_startauthsession -S` saves
    /// it) stays tracked by a TPM without a resource manager until it is flushed: it holds one of the TPM's active
    /// sessions, and the TPM's context counter cannot move more than its gap past the oldest saved context, after
    /// which every new session fails. The agent started again flushes it with the objects.
    @Test func sessionsAKilledProcessSavedAreFlushedWhenTheAgentStartsAgain() async throws {
        let w = try CLIWorld()
        #expect(try w.smig(["tpm", "provision"]).status == 0)
        for i in 0..<2 {
            let saved = try w.tool("tpm2_startauthsession", ["-S", w.path("session-\(i).ctx")])
            #expect(saved.status == 0, "\(saved.output)")
        }
        let before = try w.tool("tpm2_getcap", ["handles-saved-session"])
        #expect(before.output.split(separator: "\n").count == 2, "\(before.output)")

        let host = try HostTPM(tcti: w.swtpm.tcti, stateDirectory: w.state, hostId: "agent-host", flushingLeftovers: true)
        let left = try await host.run { device in try device.savedSessions() + device.loadedSessions() + device.transientHandles() }
        #expect(left.isEmpty, "\(left)")
        let after = try w.tool("tpm2_getcap", ["handles-saved-session"])
        #expect(after.status == 0 && after.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(after.output)")
        // The saved contexts no longer load: the TPM forgot them.
        #expect(try w.tool("tpm2_flushcontext", [w.path("session-0.ctx")]).status != 0)
        let bundle = try await host.evidence(nonce: Array(repeating: 4, count: 16), selection: try PCRSelectionList(parsing: "sha256:0-7,15"))
        #expect(bundle.nonce == Hex.encode(Array(repeating: 4, count: 16)))
    }
}
