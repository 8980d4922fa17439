import Foundation
import NamespaceLab
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A program the labs spawn (pg_ctl, which leaves PostgreSQL running; libvirtd; the lab script) inherits none of
/// this process's descriptors: a TPM connection inherited by a daemon would stay open after this process closed it,
/// and its swtpm, which serves one connection at a time, would wait on it for ever.
@Suite("LabSpawn")
struct LabSpawnTests {
    @Test func theChildInheritsNoDescriptorOfOurs() async throws {
        let fd = open("/dev/null", O_RDONLY)  // no O_CLOEXEC, as the TSS's sockets
        try #require(fd > 2)
        defer { close(fd) }
        let seen = try await LabSpawn.run("/bin/sh", ["-c", "test -e /proc/self/fd/\(fd) && echo inherited || echo closed"], seconds: 60)
        #expect(seen.status == 0)
        #expect(seen.output.trimmingCharacters(in: .whitespacesAndNewlines) == "closed", "\(seen.output)")
    }
}
