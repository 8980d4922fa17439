import TPMWire
import Attestation
import Foundation
import SmigTestSupport
import Policy
import Testing

@testable import Measurement

/// Builds a consistent log of `count` records in PCR 15 and the PCR value it replays to.
func sampleLog(_ count: Int = 5) throws -> (records: [MeasurementRecord], pcr15: [UInt8]) {
    let records = try (0..<count).map { index in
        try MeasurementRecord(recnum: index, pcr: 15,
                          content: measurement("file:/opt/tool\(index)", UInt8(index + 1)))
    }
    return (records, try MeasurementReplay.replay(records)[15] ?? [])
}

@Suite("Measurement log replay")
struct MeasurementReplayTests {
    @Test func consistentLogChecks() throws {
        let (records, pcr) = try sampleLog()
        try MeasurementReplay.check(records, against: [15: pcr])
        let decoded = try MeasurementLogRecords(jsonLines: MeasurementLogRecords(records).encoded())
        #expect(decoded.records == records)
    }

    @Test func recordShapeIsCEL() throws {
        let (records, _) = try sampleLog(1)
        let object = try JSONSerialization.jsonObject(with: Data(records[0].jsonLine())) as? [String: Any]
        #expect(Set(object?.keys.map { $0 } ?? []) == ["recnum", "pcr", "digests", "content_type", "content"])
        let digests = object?["digests"] as? [[String: String]]
        #expect(digests?.first?["hashAlg"] == "sha256")
        #expect(digests?.first?["digest"]?.count == 64)
    }

    @Test func truncatedLogByRecord() throws {
        let (records, pcr) = try sampleLog()
        let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(Array(records.dropLast()), against: [15: pcr]) }
        #expect(error?.code == .replayMismatch)
    }

    @Test func reorderedLog() throws {
        var (records, pcr) = try sampleLog()
        records.swapAt(1, 3)
        let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(records, against: [15: pcr]) }
        #expect(error?.code == .recordOutOfOrder)
    }

    @Test func recordRemovedFromTheMiddle() throws {
        var (records, pcr) = try sampleLog()
        records.remove(at: 2)
        let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(records, against: [15: pcr]) }
        #expect(error?.code == .recordMissing)
    }

    @Test func editedRecord() throws {
        var (records, pcr) = try sampleLog()
        records[2].content.measurement = hexA
        let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(records, against: [15: pcr]) }
        #expect(error?.code == .digestMismatch)
        #expect(error?.record == 2)
    }

    @Test func editedRecordWithRecomputedDigest() throws {
        // An attacker who also recomputes the record's digest is caught by the PCR.
        var (records, pcr) = try sampleLog()
        records[2] = try MeasurementRecord(recnum: 2, pcr: 15, content: measurement("file:/opt/tool2", 0xEE))
        let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(records, against: [15: pcr]) }
        #expect(error?.code == .replayMismatch)
    }

    @Test func paddedLog() throws {
        var (records, pcr) = try sampleLog()
        records.append(try MeasurementRecord(recnum: 5, pcr: 15, content: measurement("file:/opt/extra", 9)))
        let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(records, against: [15: pcr]) }
        #expect(error?.code == .extraRecords)
        #expect(error?.record == 5)
    }

    @Test func duplicatedRecord() throws {
        var (records, pcr) = try sampleLog()
        records.insert(records[1], at: 2)
        let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(records, against: [15: pcr]) }
        #expect(error?.code == .duplicateRecord)
    }

    /// Every byte-level cut of an encoded log is rejected: inside a line → `truncated`; at a line boundary →
    /// the replay no longer reaches the quoted PCR.
    @Test func everyTruncationIsRejected() throws {
        let (records, pcr) = try sampleLog()
        let bytes = MeasurementLogRecords(records).encoded()
        var cutLines = 0
        for length in 0..<bytes.count {
            do {
                let cut = try MeasurementLogRecords(jsonLines: Array(bytes[0..<length]))
                let error = #expect(throws: EventLogError.self) { try MeasurementReplay.check(cut.records, against: [15: pcr], pcrs: [15]) }
                #expect(error?.code == .replayMismatch, "cut at \(length)")
                cutLines += 1
            } catch {
                #expect(error.code == .truncated, "cut at \(length): \(error)")
            }
        }
        #expect(cutLines == records.count)  // lengths 0 and after each line but the last
    }

    @Test func paddingBytesAreRejected() throws {
        let (records, _) = try sampleLog(2)
        let bytes = MeasurementLogRecords(records).encoded()
        let blankLine = #expect(throws: EventLogError.self) { try MeasurementLogRecords(jsonLines: bytes + Array("\n".utf8)) }
        #expect(blankLine?.code == .trailingData)
        let emptyObject = #expect(throws: EventLogError.self) { try MeasurementLogRecords(jsonLines: bytes + Array("{}\n".utf8)) }
        #expect(emptyObject?.code == .malformedRecord)
    }

    @Test(arguments: [
        ("\"pcr\":15", "\"pcr\":24", EventLogError.Code.badPCRIndex),
        ("\"hashAlg\":\"sha256\"", "\"hashAlg\":\"sm3\"", .malformedRecord),
        ("\"content_type\":\"smig_measurement\"", "\"content_type\":\"ima\"", .malformedRecord),
    ])
    func malformedFields(_ old: String, _ new: String, _ code: EventLogError.Code) throws {
        let (records, _) = try sampleLog(1)
        let text = String(decoding: MeasurementLogRecords(records).encoded(), as: UTF8.self)
        #expect(text.contains(old))
        let bytes = Array(text.replacingOccurrences(of: old, with: new).utf8)
        let error = #expect(throws: EventLogError.self) { try MeasurementLogRecords(jsonLines: bytes) }
        #expect(error?.code == code)
    }
}

@Suite("Persistent measurement log and extend-on-change")
struct MeasurementStoreTests {
    @Test func extendsOnlyOnChangeAndSurvivesRestart() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/measurements.log"
        let pcrs = SoftwarePCRBank()
        do {
            let measurer = Measurer(log: try MeasurementLog(path: path, bootID: "boot-1"), extender: pcrs)
            #expect(try measurer.recover() == .consistent)
            let first = try measurer.record([measurement("file:/a", 1), measurement("file:/b", 2)])
            #expect(first.count == 2)
            let again = try measurer.record([measurement("file:/a", 1), measurement("file:/b", 2)])
            #expect(again.isEmpty)  // unchanged: no extend, log bounded
            let changed = try measurer.record([measurement("file:/a", 1), measurement("file:/b", 3)])
            #expect(changed.map(\.recnum) == [2])
        }
        // "Restart": a new log object and measurer on the same file.
        let log = try MeasurementLog(path: path, bootID: "boot-1")
        #expect(log.records.map(\.recnum) == [0, 1, 2])
        let measurer = Measurer(log: log, extender: pcrs)
        #expect(try measurer.recover() == .consistent)
        #expect(try measurer.record([measurement("file:/a", 1), measurement("file:/b", 3)]).isEmpty)
        #expect(log.records.count == 3)
        try MeasurementReplay.check(log.records, against: [15: try pcrs.read(pcr: 15)])
        // A changed digest going back to an earlier value is a change too: it is extended again.
        #expect(try measurer.record([measurement("file:/b", 2)]).count == 1)
        try MeasurementReplay.check(log.records, against: [15: try pcrs.read(pcr: 15)])
    }

    @Test func tornLastLineIsCutOnOpen() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/m.log"
        let pcrs = SoftwarePCRBank()
        try Measurer(log: try MeasurementLog(path: path, bootID: "b"), extender: pcrs)
            .record([measurement("file:/a", 1), measurement("file:/b", 2)])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"recnum\":2,\"pcr\":15,\"dig".utf8))
        try handle.close()

        let log = try MeasurementLog(path: path, bootID: "b")
        #expect(log.recoveredTornBytes == 25)
        #expect(log.records.count == 2)
        let measurer = Measurer(log: log, extender: pcrs)
        #expect(try measurer.recover() == .consistent)
        try measurer.record([measurement("file:/c", 3)])
        let reopened = try MeasurementLog(path: path, bootID: "b")
        #expect(reopened.records.map(\.recnum) == [0, 1, 2])
        #expect(reopened.recoveredTornBytes == 0)
    }

    @Test func crashBetweenAppendAndExtendIsCompleted() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/m.log"
        let pcrs = SoftwarePCRBank()
        let log = try MeasurementLog(path: path, bootID: "b")
        try Measurer(log: log, extender: pcrs).record([measurement("file:/a", 1)])
        try log.append(measurement("file:/b", 2), pcr: 15)  // logged, then "crash" before the extend
        let measurer = Measurer(log: try MeasurementLog(path: path, bootID: "b"), extender: pcrs)
        #expect(try measurer.recover() == .completedPendingExtend(recnum: 1))
        try MeasurementReplay.check(measurer.log.records, against: [15: try pcrs.read(pcr: 15)])
    }

    @Test func divergedPCRIsReported() throws {
        let directory = try TemporaryDirectory()
        let pcrs = SoftwarePCRBank()
        let measurer = Measurer(log: try MeasurementLog(path: "\(directory.path)/m.log", bootID: "b"), extender: pcrs)
        try measurer.record([measurement("file:/a", 1)])
        try pcrs.extend(pcr: 15, sha256: [UInt8](repeating: 7, count: 32))  // someone else extends PCR 15
        let error = #expect(throws: MeasurementError.self) { try measurer.recover() }
        #expect(error?.code == .logDiverged)
    }

    @Test func newBootStartsANewLog() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/m.log"
        try Measurer(log: try MeasurementLog(path: path, bootID: "boot-1"), extender: SoftwarePCRBank())
            .record([measurement("file:/a", 1)])
        let log = try MeasurementLog(path: path, bootID: "boot-2")
        #expect(log.rotated)
        #expect(log.records.isEmpty)
        #expect(FileManager.default.fileExists(atPath: path + ".prev"))
    }

    @Test func corruptLineIsAnErrorNotARepair() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/m.log"
        try Measurer(log: try MeasurementLog(path: path, bootID: "b"), extender: SoftwarePCRBank())
            .record([measurement("file:/a", 1), measurement("file:/b", 2)])
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "file:/a", with: "file:/x")
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        let error = #expect(throws: MeasurementError.self) { try MeasurementLog(path: path, bootID: "b") }
        #expect(error?.code == .logCorrupt)
        #expect(error?.reason.contains("eventlog.digest-mismatch") == true)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == text)  // nothing changed
    }
}

@Suite("Measurement log edge cases")
struct MeasurementLogEdgeTests {
    @Test func tornHeaderStartsAFreshLog() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("m.log", Array("{\"boot_id\":\"b\",\"for".utf8))
        let log = try MeasurementLog(path: path, bootID: "b")
        #expect(log.records.isEmpty)
        #expect(log.recoveredTornBytes == 19)
        #expect(FileManager.default.fileExists(atPath: path + ".torn"))
        try Measurer(log: log, extender: SoftwarePCRBank()).record([measurement("file:/a", 1)])
        #expect(try MeasurementLog(path: path, bootID: "b").records.count == 1)
    }

    @Test func extendConvenienceIsIdempotentPerBoot() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/m.log"
        let pcrs = SoftwarePCRBank()
        let batch = [measurement("file:/a", 1), measurement("file:/b", 2)]
        #expect(try Measurer.extend(batch, logPath: path, extender: pcrs, bootID: "b").count == 2)
        #expect(try Measurer.extend(batch, logPath: path, extender: pcrs, bootID: "b").isEmpty)
        let records = try MeasurementLog(path: path, bootID: "b").records
        try MeasurementReplay.check(records, against: [15: try pcrs.read(pcr: 15)])
    }

    /// Every byte-level cut of a persisted log file opens cleanly: either as a shorter, valid log (a torn last
    /// line is cut off) or as a fresh log (a torn header); never a trap, never a record invented.
    @Test func everyCutOfTheFileOpensCleanly() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/m.log"
        try Measurer(log: try MeasurementLog(path: path, bootID: "b"), extender: SoftwarePCRBank())
            .record([measurement("file:/a", 1), measurement("file:/b", 2), measurement("file:/c", 3)])
        let full = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let fullRecords = try MeasurementLog(path: path, bootID: "b").records
        for length in 0..<full.count {
            let cut = try directory.write("cut-\(length).log", Array(full[0..<length]))
            let log = try MeasurementLog(path: cut, bootID: "b")
            #expect(Array(fullRecords.prefix(log.records.count)) == log.records)
            #expect(log.records.count < fullRecords.count)
        }
    }
}
