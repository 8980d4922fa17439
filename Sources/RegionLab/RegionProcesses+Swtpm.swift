package import Foundation
package import Swtpm
import NamespaceLab

/// A host's software TPM inside its namespaces (``NamespaceRegion``'s hosts, ``LoopbackRegion``'s namespaced host).
extension RegionProcesses {
    /// swtpm's server port inside a host's network namespace (control: the next one).
    package static let namespacedSwtpmPort = 2321

    /// Starts `swtpm` (the executable at `path`) inside the namespaces `enter` on the namespace's own loopback, its
    /// pid in `pidFile`; returns the TCTI once it answers.
    package func startSwtpm(_ swtpm: SoftwareTPM, path: String, in enter: [String], pidFile: String) async throws -> String {
        let port = Self.namespacedSwtpmPort
        // swtpm daemonizes: run through LabSpawn (waitpid), not Foundation's Process, which does not reap such a parent.
        try await LabSpawn.check("swtpm in \(enter)", enter[0], Array(enter.dropFirst()) + [
            path, "socket", "--tpm2", "--tpmstate", "dir=\(swtpm.stateDirectory.path)",
            "--server", "type=tcp,port=\(port),bindaddr=127.0.0.1", "--ctrl", "type=tcp,port=\(port + 1),bindaddr=127.0.0.1",
            "--flags", "not-need-init,startup-clear", "--daemon", "--pid", "file=\(pidFile)",
            "--log", "file=\(swtpm.stateDirectory.appendingPathComponent("swtpm.log").path)",
        ], seconds: 60)
        let tcti = "swtpm:host=127.0.0.1,port=\(port)"
        try await waitUntil("swtpm in \(enter)", seconds: 30) {
            (try? self.run(["-T", tcti, "8"], tool: "/usr/bin/tpm2_getrandom", in: enter)) != nil
        }
        return tcti
    }
}
