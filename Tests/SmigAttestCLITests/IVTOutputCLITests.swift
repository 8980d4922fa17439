import Foundation
import RegionTCB
import SmigAttestCLI
import SmigTestSupport
import Testing

/// `ivt` as a script or a log sees it: into a pipe the whole reason and no terminal escapes, also under `--watch`.
@Suite("ivt output")
struct IVTOutputCLITests {
    static let reason = "digest-not-allowed: file 'file:/usr/lib/xen-4.17/boot/xen.gz' digest " + String(repeating: "ab", count: 32)
        + " is not allowed by 'file:/usr/lib/xen-4.17/boot/xen.gz'"

    static var row: IVTRow {
        IVTRow(host: "host-a", address: "127.0.0.1", state: .untrusted, akName: "000b", ekCertificate: nil, enrolledAt: nil, revoked: false,
               lastQuoteAt: nil, tpmClock: nil, resetCount: nil, restartCount: nil, lastPCRDigest: nil, measuredBy: "rc-tcb",
               failureCode: "golden.digest-not-allowed", failureDetail: reason, policyName: "p", policyDigest: nil, vms: [], capacity: nil,
               version: 1, updatedAt: Date())
    }

    @Test func theWholeReasonUnlessATerminalAsksForLess() {
        let piped = IVTCommand.render([Self.row], now: Date(), terminal: false)
        #expect(piped.contains(Self.reason) && !piped.contains("\u{1B}"))
        let terminal = IVTCommand.render([Self.row], now: Date(), terminal: true)
        #expect(!terminal.contains(Self.reason) && terminal.contains(String(Self.reason.prefix(79)) + "…") && terminal.contains("\u{1B}[31m"))
        #expect(IVTCommand.render([Self.row], now: Date(), terminal: true, wide: true).contains(Self.reason))
    }

    @Test func watchIntoAPipeWritesDatedTablesWithoutEscapes() throws {
        let region = try RegionFixture()
        let (server, url) = try region.serve("rctcb")
        defer { server.stop() }
        let watch = try Daemon(try TestBinaries.smigAttest(), ["ivt", "--watch", "--rctcb", url, "--dir", region.dir],
                               log: URL(fileURLWithPath: region.path("watch.log")))
        defer { watch.stop() }
        try waitUntil("two tables watched", seconds: 60) { watch.output.components(separatedBy: "\n--- ").count >= 2 }
        let output = watch.output
        #expect(!output.contains("\u{1B}"), "\(output)")
        #expect(output.hasPrefix("--- ") && output.contains("HOST") && output.contains("host-a"), "\(output)")
    }
}
