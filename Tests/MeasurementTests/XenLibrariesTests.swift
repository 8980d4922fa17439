import Foundation
import Testing

@testable import Measurement

/// The Xen libraries are opened with dlopen only when the xen source is used: here (libxen-dev installed, as
/// scripts/install-deps does) they load and every function the source calls resolves.
@Suite("Xen libraries, loaded on use")
struct XenLibrariesTests {
    /// Loading fails (measure.xen-libraries-missing) unless both libraries open and every symbol resolves.
    @Test func theyLoadAndEveryFunctionResolves() throws {
        _ = try XenLibraries.shared.get()
    }

    @Test func theDevelopmentLinkComesFirstThenTheNewestVersion() {
        let candidates = XenLibraries.controlCandidates()
        #expect(candidates.first == "libxenctrl.so")
        #expect(candidates.dropFirst().allSatisfy { $0.hasPrefix("libxenctrl.so.4.") }, "\(candidates)")
        #expect(Set(candidates).count == candidates.count)
    }
}
