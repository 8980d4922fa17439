import Libvirt
import Testing

/// Arguments and connections that fail before any host is involved.
@Suite("libvirt: refusals")
struct LibvirtRefusalTests {
    @Test("a daemon that is not there: connect-failed with libvirt's message")
    func connectFailed() async throws {
        let error = await #expect(throws: LibvirtError.self) {
            _ = try await LibvirtConnection.open("qemu+unix:///system?socket=/nonexistent/libvirt-sock")
        }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains("/nonexistent/libvirt-sock") == true, "\(String(describing: error))")
        #expect(error?.libvirtCode != 0, "libvirt's own error number is kept")
    }

    @Test("parameters libvirt would misread are refused", arguments: [
        MigrationParameters(bandwidthMiBPerSecond: 0),
        MigrationParameters(maxDowntimeMs: 0),
        MigrationParameters(parallelConnections: 0),
        MigrationParameters(parallelConnections: 256),
    ])
    func invalidParameters(_ parameters: MigrationParameters) throws {
        #expect(throws: LibvirtError(.invalidArgument, function: "", message: "")) { try parameters.validate() }
    }

    @Test("the flags: live, peer to peer, destination paused and persistent, source undefined; options add theirs")
    func flags() {
        #expect(MigrationParameters().flagNames == ["live", "peer2peer", "paused", "persist-dest", "undefine-source"])
        #expect(MigrationParameters(autoConverge: true, parallelConnections: 2).flagNames
                == ["live", "peer2peer", "paused", "persist-dest", "undefine-source", "auto-converge", "parallel"])
    }
}
