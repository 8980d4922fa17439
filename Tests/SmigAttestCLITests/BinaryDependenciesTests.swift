import Foundation
import SmigTestSupport
import Testing

/// What the shipped binary needs from the system to start.
@Suite("Binary dependencies")
struct BinaryDependenciesTests {
    /// The Xen libraries are opened only when the xen source is used (a KVM host runs the binary without them), and
    /// libvirt only when an agent's VM manager is libvirt (a Xen dom0 runs it without libvirt).
    @Test func theXenLibrariesAndLibvirtAreNotLinked() throws {
        let r = try Run.tool("readelf", ["-d", try TestBinaries.smigAttest()])
        #expect(r.status == 0, "\(r.output)")
        let needed = r.output.split(separator: "\n").filter { $0.contains("(NEEDED)") }
        #expect(needed.contains { $0.contains("libtss2-esys") }, "readelf lists what is linked: \(r.output)")
        #expect(!needed.contains { $0.contains("libxen") }, "\(needed.joined(separator: "\n"))")
        #expect(!needed.contains { $0.contains("libvirt") }, "\(needed.joined(separator: "\n"))")
    }
}
