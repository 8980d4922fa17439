import Attestation
import SyntheticBootLogs
import Testing
import TPMWire

@Suite("TCG boot event log")
struct BootEventLogTests {
    let builder = BootEventLogBuilder.realistic()

    @Test func parsesAndReplays() throws {
        let bytes = builder.bytes()
        let log = try BootEventLog(bytes: bytes)
        #expect(log.algorithms.map(\.algorithm) == [.sha1, .sha256])
        #expect(log.format == .cryptoAgile)
        #expect(log.events.count == builder.events.count + 2)  // + Spec ID + StartupLocality
        #expect(log.startupLocality == 3)
        #expect(log.events.first { $0.eventType == .efiBootServicesApplication }?.eventType.description
            == "EV_EFI_BOOT_SERVICES_APPLICATION")

        // Independent replay: PCR 9 is three extends of SHA-256(data) from zero.
        var pcr9 = [UInt8](repeating: 0, count: 32)
        for event in builder.events where event.pcrIndex == 9 {
            pcr9 = Digests.sha256(pcr9 + Digests.sha256(event.eventData))
        }
        let replayed = log.replay()
        #expect(replayed[.sha256, 9] == pcr9)
        // PCR 0 starts at the startup locality (…0003), then the CRTM, firmware and separator.
        var pcr0 = [UInt8](repeating: 0, count: 31) + [3]
        for event in builder.events where event.pcrIndex == 0 { pcr0 = Digests.sha256(pcr0 + Digests.sha256(event.eventData)) }
        #expect(replayed[.sha256, 0] == pcr0)
        #expect(replayed[.sha1, 9]?.count == 20)
        #expect(log.mismatches(against: replayed).isEmpty)
    }

    /// A TPM started at locality 0 and extended with a built log's `extends()` holds what the log replays to, in
    /// every bank; logs of different firmware replay to different PCRs.
    @Test func extendsAreWhatTheLogReplaysTo() throws {
        var xen = BootEventLogBuilder.realistic()
        xen.startupLocality = nil
        for built in [xen, BootEventLogBuilder(firmware: "lab firmware")] {
            var tpm = PCRBanks()
            for bank in built.algorithms { for pcr in 0...23 { tpm[bank, pcr] = PCRBanks.resetValue(bank, pcr: pcr) } }
            for extend in built.extends() {
                for (bank, digest) in extend.digests {
                    tpm[bank, extend.pcr] = try PCRBanks.extend(tpm[bank, extend.pcr] ?? [], with: digest, bank: bank)
                }
            }
            #expect(try BootEventLog(bytes: built.bytes()).replay() == tpm)
        }
        let firmware = try BootEventLog(bytes: BootEventLogBuilder(firmware: "lab firmware").bytes())
        #expect(firmware.algorithms.map(\.algorithm) == [.sha256] && firmware.events.count == 1 + 16)
        let other = try BootEventLog(bytes: BootEventLogBuilder(firmware: "other firmware").bytes())
        #expect(other.replay()[.sha256, 0] != firmware.replay()[.sha256, 0])
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
                #expect(!BootLogCheck(cut, against: full).matches, "a cut at \(length) replays to the full PCRs")
                replayFailures += 1
            } catch {
                #expect(error.code == .truncated, "cut at \(length): \(error)")
                parseFailures += 1
            }
        }
        #expect(parseFailures + replayFailures == bytes.count)
        // At least one per event boundary: the empty log, after the Spec ID event, after StartupLocality, after
        // each event but the last. A cut inside the leading zero bytes of an event (a PCR 0 index) reads as zero
        // padding: it parses too, and does not replay either.
        #expect(replayFailures >= builder.events.count + 2)
    }

    /// Without a Spec ID Event03 the log is read as a TCG 1.2 SHA-1 log: an agile log whose Spec ID signature
    /// is changed then fails with a coded error at a later event, which is not in the SHA-1 format.
    @Test func withoutSpecIDTheLogIsReadAsSHA1() {
        var bytes = builder.bytes()
        bytes.replaceSubrange(32..<48, with: Array("Spec ID Event02\0".utf8))
        let error = #expect(throws: EventLogError.self) { try BootEventLog(bytes: bytes) }
        #expect(error?.code == .badPCRIndex, "\(String(describing: error))")
        // The first event is a well-formed SHA-1 event; a later one is not.
        #expect((error?.record ?? 0) > 0 && (error?.offset ?? 0) >= 32 + builder.specIDEvent().count)
    }

    @Test func specIDMajorVersionMustBe2() {
        var bytes = builder.bytes()
        bytes[32 + 21] = 1
        let error = #expect(throws: EventLogError.self) { try BootEventLog(bytes: bytes) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.record == 0)
    }

    @Test func badPCRIndex() throws {
        var log = BootEventLogBuilder()
        log.add(pcr: 24, type: .ipl, "x")
        let error = #expect(throws: EventLogError.self) { try BootEventLog(bytes: log.bytes()) }
        #expect(error?.code == .badPCRIndex)
        #expect(error?.record == 1 && error?.offset == 32 + log.specIDEvent().count)
    }

    @Test func digestCountMustMatchSpecID() throws {
        var log = BootEventLogBuilder()
        log.add(pcr: 8, type: .ipl, "x")
        var bytes = log.bytes()
        let spec = log.specIDEvent()
        let firstEvent = 32 + spec.count
        bytes[firstEvent + 8] = 1  // digest count 1 instead of 2
        let error = #expect(throws: EventLogError.self) { try BootEventLog(bytes: bytes) }
        #expect(error?.code == .digestListMismatch)
    }

    @Test func hugeEventSizeIsABadLengthNotAnAllocation() throws {
        var log = BootEventLogBuilder()
        log.add(pcr: 8, type: .ipl, "x")
        var bytes = log.bytes()
        // eventSize is the 4 bytes before the 1-byte event data at the end.
        bytes.replaceSubrange((bytes.count - 5)..<(bytes.count - 1), with: [0xFF, 0xFF, 0xFF, 0x7F])
        let error = #expect(throws: EventLogError.self) { try BootEventLog(bytes: bytes) }
        #expect(error?.code == .badLength)
    }

    @Test func declaredDigestSizeMustFitTheAlgorithm() {
        var bytes = BootEventLogBuilder().bytes()
        // The sha256 entry's digestSize field: signature(16) platformClass(4) versions(4) count(4) sha1(4) alg(2).
        let at = 32 + 16 + 4 + 4 + 4 + 4 + 2
        bytes[at] = 31
        let error = #expect(throws: EventLogError.self) { try BootEventLog(bytes: bytes) }
        #expect(error?.code == .badLength)
    }
}
