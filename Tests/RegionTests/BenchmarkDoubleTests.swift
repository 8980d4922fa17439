import Benchmarks
import Foundation
import Logging
import Policy
import RegionProtocol
import RegionTCB
import Testing
import TPMWire

/// The benchmark's software-key doubles: real quote formats the RC-TCB verifies unchanged, but they can only
/// ever be written into a benchmark-only IVT.
@Suite("Benchmark doubles")
struct BenchmarkDoubleTests {
    @Test func doublesAreRefusedByARealRegionsIVT() throws {
        let (store, _) = try IVTStoreTests.store(hosts: ["host-a"])
        let double = try SoftwareAgentDouble(hostId: "host-a", measurementName: "file:/x", measurement: [UInt8](repeating: 1, count: 32))
        let before = try store.rows()
        let eventsBefore = try store.events()
        let error = #expect(throws: RegionError.self) { try store.enrolBenchmarkDoubles([double.ivtKey]) }
        #expect(error?.code == .forbidden)
        #expect(try store.rows() == before)
        #expect(try store.events() == eventsBefore)
        #expect(try store.enrolment("host-a") == nil)
    }

    @Test func theRealVerificationTrustsDoublesAndCatchesAReplay() async throws {
        let bench = try BenchmarkRegion(hosts: 4, logger: Logger(label: "test"))
        defer { bench.destroy() }
        try await bench.warmUp()
        let store = try IVTStore(path: bench.directory.database)
        #expect(try store.rows().allSatisfy { $0.state == .trusted && $0.ekCertificate == IVTStore.benchmarkDoubleMarker })
        let result = await RegionLoadGenerator.inProcess(bench, concurrency: 2, seconds: 0.3)
        #expect(result.errors == 0 && result.attestations > 0, "\(result.firstError ?? "")")

        // A report re-using a spent nonce is refused by the unchanged intake.
        let assignment = try await bench.region.assignment(for: "sim-00001")
        let target = try #require(assignment.target)
        let nonceHex = try #require(assignment.nonce)
        let bundle = try #require(bench.byHost[target]).evidence(nonce: try #require(Hex.decode(nonceHex)), selection: try PCRSelectionList(parsing: RCTCBRunner.selection))
        let report = AIMReport(target: target, nonce: nonceHex, outcome: .evidence, evidence: bundle)
        #expect(try await bench.region.intake(report, from: "sim-00001").state == "trusted")
        let replayed = await #expect(throws: RegionError.self) { try await bench.region.intake(report, from: "sim-00001") }
        #expect(replayed?.code == .nonceUnknown)
    }
}
