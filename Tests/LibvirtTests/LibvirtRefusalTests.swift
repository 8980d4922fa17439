import Libvirt
import Testing

/// Arguments and connections that fail before any host is involved.
@Suite("libvirt: refusals")
struct LibvirtRefusalTests {
    @Test("a host without libvirt: library-missing with dlopen's reason and a hint, nothing loaded")
    func libraryMissing() throws {
        let result = LibvirtLibrary.load("libvirt-that-is-not-installed.so.0")
        guard case .failure(let error) = result else {
            Issue.record("a library that does not exist was loaded")
            return
        }
        #expect(error.code == .libraryMissing)
        #expect(error.message.contains("libvirt-that-is-not-installed.so.0"), "\(error)")
        #expect(error.message.contains("hint:"), "\(error)")
    }

    @Test("the installed libvirt loads with every function this module calls")
    func libraryLoads() throws {
        guard case .success = LibvirtLibrary.load("libvirt.so.0") else {
            Issue.record("libvirt.so.0 (libvirt0, installed with libvirt-dev) did not load")
            return
        }
    }

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
