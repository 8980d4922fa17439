import Attestation
import Policy
import SyntheticBootLogs
import Testing
import TPMWire

/// A measurement as a source takes it, its SHA-256 `fill` repeated.
private func measurement(_ name: String, _ fill: UInt8, source: String = "file") -> MeasurementRecord.Content {
    MeasurementRecord.Content(source: source, name: name, sha256: [UInt8](repeating: fill, count: 32), detail: "test")
}

@Suite("Evaluation: verified evidence + golden values → verdict")
struct EvaluationTests {
    let golden = GoldenValues(name: "g", entries: [
        .init(name: "file:/boot/xen.gz", sha256: [[UInt8](repeating: 1, count: 32)], required: true),
        .init(name: "xen:build-id", values: ["151b37"], required: true),
        .init(name: "kernel-module:*", sha256: [[UInt8](repeating: 4, count: 32)]),
    ])

    func evidence(_ measurements: [MeasurementRecord.Content]) throws -> (records: [MeasurementRecord], quoted: PCRBanks) {
        let records = try measurements.enumerated().map { try MeasurementRecord(recnum: $0, pcr: 15, content: $1) }
        var quoted = PCRBanks()
        quoted[.sha256, 15] = try MeasurementReplay.replay(records)[15] ?? PCRBanks.resetValue(.sha256)
        return (records, quoted)
    }

    @Test func goodHostIsTrusted() throws {
        let (records, quoted) = try evidence([
            measurement("file:/boot/xen.gz", 1),
            .reported(source: "xen", name: "xen:build-id", value: "151b37", detail: ""),
            measurement("kernel-module:kvm", 4, source: "kernel-modules"),
        ])
        let verdict = Evaluator.evaluate(.init(quoted: quoted, records: records, golden: golden))
        #expect(verdict.trusted, "\(verdict.reasons)")
        #expect(verdict.recordsChecked == 3)
    }

    @Test func oneReasonPerOffendingMeasurement() throws {
        let (records, quoted) = try evidence([
            measurement("file:/boot/xen.gz", 9),  // digest not allowed
            measurement("file:/usr/sbin/unknown", 1),  // unknown
            measurement("kernel-module:evil", 5, source: "kernel-modules"),  // pattern entry, wrong digest
        ])  // xen:build-id never measured → required missing
        let verdict = Evaluator.evaluate(.init(quoted: quoted, records: records, golden: golden))
        #expect(!verdict.trusted)
        #expect(Set(verdict.reasons.map(\.kind)) == [.unknownMeasurement, .digestNotAllowed, .requiredMissing])
        #expect(verdict.reasons.count == 4)
        #expect(verdict.reasons.contains { $0.kind == .unknownMeasurement && $0.measurement == "file:/usr/sbin/unknown" })
        #expect(verdict.reasons.contains { $0.kind == .digestNotAllowed && $0.measurement == "kernel-module:evil" })
        #expect(verdict.reasons.contains { $0.kind == .requiredMissing && $0.measurement == "xen:build-id" })
    }

    @Test func aBadStateStaysVisibleAfterItIsReverted() throws {
        let (records, quoted) = try evidence([
            measurement("file:/boot/xen.gz", 1),
            .reported(source: "xen", name: "xen:build-id", value: "151b37", detail: ""),
            measurement("file:/boot/xen.gz", 9),
            measurement("file:/boot/xen.gz", 1),
        ])
        let verdict = Evaluator.evaluate(.init(quoted: quoted, records: records, golden: golden))
        #expect(verdict.reasons.map(\.kind) == [.digestNotAllowed])
        #expect(verdict.reasons.first?.record == 2)
    }

    @Test func logNotMatchingTheQuoteIsAReason() throws {
        var (records, quoted) = try evidence([
            measurement("file:/boot/xen.gz", 1),
            .reported(source: "xen", name: "xen:build-id", value: "151b37", detail: ""),
        ])
        records.removeLast()
        let verdict = Evaluator.evaluate(.init(quoted: quoted, records: records, golden: golden))
        #expect(verdict.reasons.contains { $0.kind == .logInvalid && $0.logErrorCode == "eventlog.replay-mismatch" })
        // An empty log against an extended PCR 15 is caught too (the whole log withheld).
        let empty = Evaluator.evaluate(.init(quoted: quoted, records: [], golden: golden))
        #expect(empty.reasons.contains { $0.kind == .logInvalid && $0.pcr == 15 })
    }

    @Test func bootLogAndGoldenPCRs() throws {
        let bootLog = try BootEventLog(bytes: BootEventLogBuilder.realistic().bytes())
        var quoted = bootLog.replay()
        quoted[.sha256, 15] = PCRBanks.resetValue(.sha256)
        let pcr4 = quoted[.sha256, 4] ?? []
        let goldenPCRs = GoldenValues(name: "boot", pcrs: [.sha256: [4: [pcr4]]])
        let good = Evaluator.evaluate(.init(quoted: quoted, records: [], bootLog: bootLog, golden: goldenPCRs))
        #expect(good.trusted, "\(good.reasons)")

        var tampered = quoted
        tampered[.sha256, 4] = [UInt8](repeating: 0xEE, count: 32)
        let bad = Evaluator.evaluate(.init(quoted: tampered, records: [], bootLog: bootLog, golden: goldenPCRs))
        #expect(bad.reasons.count == 2)  // boot log replay and golden PCR value
        #expect(bad.reasons.allSatisfy { $0.kind == .pcrMismatch && $0.pcr == 4 })
    }
}

@Suite("Evaluation edge cases")
struct EvaluationEdgeTests {
    @Test func quoteWithoutTheRuntimePCRIsAReason() throws {
        let golden = GoldenValues(name: "g", entries: [.init(name: "file:/a", sha256: [[UInt8](repeating: 1, count: 32)])])
        let record = try MeasurementRecord(recnum: 0, pcr: 15, content: measurement("file:/a", 1))
        var quoted = PCRBanks()
        quoted[.sha256, 0] = PCRBanks.resetValue(.sha256)
        let verdict = Evaluator.evaluate(.init(quoted: quoted, records: [record], golden: golden))
        #expect(verdict.reasons.map(\.kind) == [.pcrMismatch])
        #expect(verdict.reasons.first?.pcr == 15)
    }

    @Test func editedLogIsLogInvalidWithItsCode() throws {
        let golden = GoldenValues(name: "g", entries: [.init(name: "file:/a", sha256: [[UInt8](repeating: 1, count: 32)])])
        var record = try MeasurementRecord(recnum: 0, pcr: 15, content: measurement("file:/a", 2))
        var quoted = PCRBanks()
        quoted[.sha256, 15] = try MeasurementReplay.replay([record])[15]
        record.content.measurement = String(repeating: "01", count: 32)  // hide the bad digest
        let verdict = Evaluator.evaluate(.init(quoted: quoted, records: [record], golden: golden))
        #expect(verdict.reasons.contains { $0.kind == .logInvalid && $0.logErrorCode == "eventlog.digest-mismatch" })
        #expect(!verdict.trusted)
    }
}
