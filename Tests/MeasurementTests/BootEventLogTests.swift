import Attestation
import Policy
import Testing

@Suite("TCG boot event log")
struct BootEventLogTests {
    let builder = BootLogBuilder.realistic()

    @Test func parsesAndReplays() throws {
        let bytes = builder.bytes()
        let log = try BootEventLog(bytes: bytes)
        #expect(log.algorithms.map(\.algorithmID) == [0x0004, 0x000B])
        #expect(log.events.count == builder.events.count + 1)  // + StartupLocality
        #expect(log.startupLocality == 3)
        #expect(log.events.first { $0.eventType == 0x8000_0003 }?.typeName == "EV_EFI_BOOT_SERVICES_APPLICATION")

        // Independent replay: PCR 9 is three extends of SHA-256(data) from zero.
        var pcr9 = [UInt8](repeating: 0, count: 32)
        for event in builder.events where event.pcr == 9 {
            pcr9 = Digests.sha256(pcr9 + Digests.sha256(event.data))
        }
        let replayed = log.replay()
        #expect(replayed[.sha256, 9] == pcr9)
        // PCR 0 starts at the startup locality (…0003), then the CRTM, firmware and separator.
        var pcr0 = [UInt8](repeating: 0, count: 31) + [3]
        for event in builder.events where event.pcr == 0 { pcr0 = Digests.sha256(pcr0 + Digests.sha256(event.data)) }
        #expect(replayed[.sha256, 0] == pcr0)
        #expect(replayed[.sha1, 9]?.count == 20)
        #expect(log.mismatches(against: replayed).isEmpty)
    }

    /// Every cut of the log is rejected: mid-structure cuts fail to parse (`truncated`), cuts between events
    /// parse but no longer replay to the PCRs of the whole log.
    @Test func everyTruncationIsRejected() throws {
        let bytes = builder.bytes()
        let full = try BootEventLog(bytes: bytes).replay()
        var parseFailures = 0
        var replayFailures = 0
        for length in 0..<bytes.count {
            do {
                let cut = try BootEventLog(bytes: Array(bytes[0..<length]))
                #expect(!cut.mismatches(against: full).isEmpty, "a cut at \(length) replays to the full PCRs")
                replayFailures += 1
            } catch {
                #expect(error.code == .truncated, "cut at \(length): \(error)")
                parseFailures += 1
            }
        }
        #expect(parseFailures + replayFailures == bytes.count)
        // One per event boundary: after the Spec ID event, after StartupLocality, after each event but the last.
        #expect(replayFailures == builder.events.count + 1)
    }

    @Test func sha1OnlyLogIsUnsupported() {
        var bytes = builder.bytes()
        bytes.replaceSubrange(32..<48, with: Array("Spec ID Event02\0".utf8))
        #expect { try BootEventLog(bytes: bytes) } throws: { ($0 as? EventLogError)?.code == .unsupportedFormat }
    }

    @Test func firstEventMustBeSpecID() {
        var bytes = builder.bytes()
        bytes[4] = 0x4  // EV_SEPARATOR instead of EV_NO_ACTION
        #expect { try BootEventLog(bytes: bytes) } throws: { ($0 as? EventLogError)?.code == .missingSpecIDEvent }
    }

    @Test func badPCRIndex() throws {
        var log = BootLogBuilder()
        log.add(pcr: 24, type: 0xD, "x")
        #expect { try BootEventLog(bytes: log.bytes()) } throws: {
            let error = $0 as? EventLogError
            return error?.code == .badPCRIndex && error?.record == 1
        }
    }

    @Test func digestCountMustMatchSpecID() throws {
        var log = BootLogBuilder()
        log.add(pcr: 8, type: 0xD, "x")
        var bytes = log.bytes()
        let spec = log.specIDEvent()
        let firstEvent = 32 + spec.count
        bytes[firstEvent + 8] = 1  // digest count 1 instead of 2
        #expect { try BootEventLog(bytes: bytes) } throws: { ($0 as? EventLogError)?.code == .digestListMismatch }
    }

    @Test func hugeEventSizeIsABadLengthNotAnAllocation() throws {
        var log = BootLogBuilder()
        log.add(pcr: 8, type: 0xD, "x")
        var bytes = log.bytes()
        // eventSize is the 4 bytes before the 1-byte event data at the end.
        bytes.replaceSubrange((bytes.count - 5)..<(bytes.count - 1), with: [0xFF, 0xFF, 0xFF, 0x7F])
        #expect { try BootEventLog(bytes: bytes) } throws: { ($0 as? EventLogError)?.code == .badLength }
    }

    @Test func declaredDigestSizeMustFitTheAlgorithm() {
        var bytes = BootLogBuilder().bytes()
        // The sha256 entry's digestSize field: signature(16) platformClass(4) versions(4) count(4) sha1(4) alg(2).
        let at = 32 + 16 + 4 + 4 + 4 + 4 + 2
        bytes[at] = 31
        #expect { try BootEventLog(bytes: bytes) } throws: { ($0 as? EventLogError)?.code == .badLength }
    }

    @Test func bootLogSourceYieldsReplayedPCRs() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("binary_bios_measurements", builder.bytes())
        let measurements = try BootLogSource(path: path).measure()
        #expect(measurements.map(\.name) == ["boot-log"] + (0...9).map { "boot-log:pcr\($0)" })
        let replayed = try BootEventLog(bytes: builder.bytes()).replay()
        #expect(measurements[10].sha256 == replayed[.sha256, 9])

        let cut = try directory.write("cut", Array(builder.bytes().dropLast(3)))
        #expect { try BootLogSource(path: cut).measure() } throws: { ($0 as? MeasurementError)?.code == .bootLog }
    }
}

import Measurement
