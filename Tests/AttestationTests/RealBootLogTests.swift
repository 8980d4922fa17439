import Attestation
import Foundation
import Policy
import Testing
import TPMWire

/// A boot event log taken from a real machine, with the PCR values read from that machine's TPM
/// (see each log's PROVENANCE file under Vectors/bootlogs).
struct RealBootLog: Sendable, CustomStringConvertible {
    let name: String
    let bytes: [UInt8]
    /// bank → PCR → value, as recorded with the log.
    let pcrs: [TPMAlgorithm: [Int: [UInt8]]]

    var description: String { name }

    static let names = [
        "arch-linux-workstation", "confidential-gke-debug-251000_eventlog", "cos-101-amd-sev", "cos-85-amd-sev",
        "cos-93-amd-sev", "debian-10", "gce-cos-85-nonce9009", "eventlogwithsp800155", "gdc-host", "glinux-alex", "hirs-agile", "hirs-sha1",
        "linux-tpm12", "rhel8-uefi", "ubuntu-1804-amd-sev", "ubuntu-2104-no-dbx", "ubuntu-2104-no-secure-boot",
        "ubuntu-2404-amd-sevsnp", "windows-gcp-shielded-vm",
    ]

    static func url(_ name: String, _ ext: String) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Vectors/bootlogs") else {
            throw QuoteVector.VectorMissing(name: "\(name).\(ext)")
        }
        return url
    }

    static func load(_ name: String) throws -> RealBootLog {
        let bytes = [UInt8](try Data(contentsOf: try url(name, "bin")))
        let json = try JSONDecoder().decode([String: [String: String]].self,
                                            from: try Data(contentsOf: try url(name, "pcrs.json")))
        var pcrs: [TPMAlgorithm: [Int: [UInt8]]] = [:]
        for (bankName, values) in json {
            let bank = try #require(TPMAlgorithm(implementedHashName: bankName))
            for (pcr, hex) in values {
                let index = try #require(Int(pcr))
                let value = try #require(hexBytes(hex))
                pcrs[bank, default: [:]][index] = value
            }
        }
        return RealBootLog(name: name, bytes: bytes, pcrs: pcrs)
    }
}

func hexBytes(_ text: String) -> [UInt8]? {
    let digits = Array(text.utf8)
    guard digits.count % 2 == 0 else { return nil }
    var out: [UInt8] = []
    var index = 0
    while index < digits.count {
        guard let byte = UInt8(String(decoding: digits[index..<index + 2], as: UTF8.self), radix: 16) else { return nil }
        out.append(byte)
        index += 2
    }
    return out
}

@Suite("Boot event logs from real machines")
struct RealBootLogTests {
    /// PCRs a log's machine recorded that its boot log does not account for, and why.
    static let outsideBootLog: [String: [Int: String]] = [
        // The kernel's integrity measurement architecture extends PCR 10 after boot, into its own log.
        "linux-tpm12": [10: "IMA"],
        "gce-cos-85-nonce9009": [10: "IMA"],
    ]

    /// Every PCR value recorded with the log is reproduced by the replay, in every recorded bank.
    @Test(arguments: RealBootLog.names)
    func replaysToTheMachinesPCRs(_ name: String) throws {
        let vector = try RealBootLog.load(name)
        let log = try BootEventLog(bytes: vector.bytes)
        let replayed = log.replay()
        #expect(!vector.pcrs.isEmpty)
        let excluded = Self.outsideBootLog[name] ?? [:]
        for (bank, values) in vector.pcrs {
            for (pcr, value) in values where excluded[pcr] == nil {
                #expect(replayed[bank, pcr] == value, "\(name) \(bank.name) PCR \(pcr)")
            }
        }
        let quoted = PCRBanks(vector.pcrs)
        let check = BootLogCheck(log, against: quoted)
        #expect(check.matches, "\(name): \(check.divergence?.description ?? "nothing compared")")
        for pcr in excluded.keys {
            // Outside the boot log: the check reports it when asked to compare it.
            let strict = BootLogCheck(log, against: quoted, pcrs: [pcr])
            #expect(strict.divergence?.pcr == pcr && strict.divergence?.event == nil)
        }
    }

    @Test func formatsAndFeaturesAreCovered() throws {
        let logs = try RealBootLog.names.map { ($0, try BootEventLog(bytes: try RealBootLog.load($0).bytes)) }
        let byName = Dictionary(uniqueKeysWithValues: logs)
        // TCG 1.2 SHA-1 logs: no Spec ID event, the first event is a CRTM event.
        let sha1Logs = logs.filter { $0.1.format == .sha1 }.map(\.0)
        #expect(Set(sha1Logs) == ["debian-10", "hirs-sha1", "linux-tpm12", "windows-gcp-shielded-vm"])
        #expect(byName["hirs-sha1"]?.events.first?.eventType == .sCRTMContents)
        #expect(byName["debian-10"]?.events.first?.eventType == .sCRTMVersion)
        // StartupLocality 3 (PCR 0 starts at 00…03).
        #expect(byName["glinux-alex"]?.startupLocality == 3)
        #expect(byName["gdc-host"]?.startupLocality == 3)
        // SHA-384 banks.
        #expect(byName["rhel8-uefi"]?.algorithms.map(\.algorithm) == [.sha1, .sha256, .sha384])
        #expect(byName["rhel8-uefi"]?.replay().values[.sha384]?.count == 24)
        // SP 800-155 reference-manifest events are EV_NO_ACTION: parsed, named, never extended.
        let sp800155 = try #require(byName["eventlogwithsp800155"])
        let manifests = sp800155.events.filter { $0.noActionSignature == "SP800-155 Event3" }
        #expect(manifests.count == 2)
        #expect(manifests.allSatisfy { !$0.extends })
    }

    /// Every PCR outside 0–16 and 23 holds all ones unless the log extends it (17–22 are DRTM PCRs).
    @Test func resetValuesOfUnextendedPCRs() throws {
        let vector = try RealBootLog.load("windows-gcp-shielded-vm")
        let log = try BootEventLog(bytes: vector.bytes)
        let replayed = log.replay()
        for pcr in 17...22 where !log.extendedPCRs.contains(pcr) {
            #expect(replayed[.sha1, pcr] == [UInt8](repeating: 0xFF, count: 20))
            #expect(vector.pcrs[.sha1]?[pcr] == [UInt8](repeating: 0xFF, count: 20))
        }
        #expect(replayed[.sha1, 23] == [UInt8](repeating: 0, count: 20))
    }
}

@Suite("Boot event logs: malformed and altered input")
struct BootLogRobustnessTests {
    static let fuzzed = ["glinux-alex", "linux-tpm12"]

    /// A cut log either fails with a coded error or parses (the cut fell between events) and then no longer
    /// replays to the machine's PCRs. Nothing traps.
    @Test(arguments: fuzzed)
    func everyTruncation(_ name: String) throws {
        let vector = try RealBootLog.load(name)
        let quoted = PCRBanks(vector.pcrs)
        var parsed = 0
        for length in 0..<vector.bytes.count {
            do {
                let cut = try BootEventLog(bytes: Array(vector.bytes[0..<length]))
                parsed += 1
                #expect(!BootLogCheck(cut, against: quoted).matches, "\(name) cut at \(length) still matches")
            } catch {
                #expect([EventLogError.Code.truncated, .badLength].contains(error.code), "\(name) cut at \(length): \(error)")
                #expect(error.record != nil && error.offset != nil, "\(error)")
            }
        }
        // At least one clean parse per event boundary (the empty log included); a cut inside the leading zero
        // bytes of an event reads as zero padding, and still does not match.
        let events = try BootEventLog(bytes: vector.bytes).events.count
        #expect(parsed >= events)
    }

    /// Each byte of each event header flipped: a coded error, or a clean parse whose replay differs.
    @Test(arguments: fuzzed)
    func byteFlipInEveryEventHeader(_ name: String) throws {
        let vector = try RealBootLog.load(name)
        let log = try BootEventLog(bytes: vector.bytes)
        let original = log.replay()
        let headerSize = log.format == .sha1 ? 32 : 12
        for event in log.events {
            for position in event.offset..<(event.offset + min(headerSize, event.size)) {
                var bytes = vector.bytes
                bytes[position] ^= 0x5A
                do {
                    let altered = try BootEventLog(bytes: bytes)
                    #expect(altered != log, "\(name): flip at \(position) changed nothing")
                    if altered.replay() == original {
                        // Only an event's type may change without changing the PCRs (it is not hashed), unless
                        // it turns an event into EV_NO_ACTION or back.
                        #expect(altered.events.count == log.events.count, "\(name): flip at \(position)")
                    }
                } catch {
                    #expect(!error.code.rawValue.isEmpty && error.record != nil, "\(name) flip at \(position): \(error)")
                }
            }
        }
    }

    @Test func zeroPaddingIsAcceptedOtherTrailingBytesAreNot() throws {
        let vector = try RealBootLog.load("glinux-alex")
        let log = try BootEventLog(bytes: vector.bytes)
        let padded = try BootEventLog(bytes: vector.bytes + [UInt8](repeating: 0, count: 4096))
        #expect(padded.paddingBytes == 4096)
        #expect(padded.events == log.events)
        #expect(padded.replay() == log.replay())
        let error = #expect(throws: EventLogError.self) { try BootEventLog(bytes: vector.bytes + [0, 0, 0, 0, 1]) }
        #expect(error?.code == .truncated)
        #expect(error?.record == log.events.count && (error?.offset ?? 0) >= vector.bytes.count)
    }

    @Test func errorsNameEventAndOffsetOnce() throws {
        let vector = try RealBootLog.load("debian-10")
        let log = try BootEventLog(bytes: vector.bytes)
        let third = log.events[3]
        var bytes = vector.bytes
        bytes[third.offset] = 24  // PCR index 24
        let error = #expect(throws: EventLogError.self, "PCR 24") { try BootEventLog(bytes: bytes) }
        #expect(error?.code == .badPCRIndex)
        #expect(error?.record == 3)
        #expect(error?.offset == third.offset)
        #expect(error?.description == "eventlog.bad-pcr-index: PCR index 24 is outside 0...23 (record 3, byte \(third.offset))")
    }

    @Test func sm3BankParsesButDoesNotReplay() throws {
        // The Spec ID event of a real agile log, with its SHA-1 bank relabelled SM3_256 would change sizes, so
        // relabel the SHA-256 bank (both 32 bytes) of a real log: the log parses, the bank cannot be replayed.
        let vector = try RealBootLog.load("glinux-alex")
        var bytes = vector.bytes
        // Spec ID algorithm table: signature(16) platformClass(4) versions(4) count(4), then {id, size} pairs.
        let table = 32 + 28
        #expect(bytes[table + 4] == 0x0B)
        bytes[table + 4] = 0x12
        // Every event's SHA-256 digest id must change too; the parser tells where the first one is.
        var rewritten = bytes
        let original = try BootEventLog(bytes: vector.bytes)
        for event in original.events.dropFirst() {
            let idOffset = event.offset + 12 + 2 + 20
            rewritten[idOffset] = 0x12
        }
        let unrewritten = #expect(throws: EventLogError.self) { try BootEventLog(bytes: bytes) }
        #expect(unrewritten?.code == .digestListMismatch)
        let log = try BootEventLog(bytes: rewritten)
        #expect(log.unreplayableAlgorithms == [.sm3_256])
        #expect(log.replay().values.keys.sorted() == [.sha1])
        let sm3 = #expect(throws: EventLogError.self) { try log.replay(algorithm: .sm3_256) }
        #expect(sm3?.code == .unsupportedAlgorithm)
    }
}

@Suite("Golden boot-event rules on a real log")
struct GoldenBootEventEvaluationTests {
    /// The boot loader event of a real laptop's log, pinned by its own digest, passes; another digest is named
    /// with its event; a required rule that matches nothing is reported; without a log, required rules fail.
    @Test func rulesSelectAndCheckEvents() throws {
        let log = try BootEventLog(bytes: try RealBootLog.load("glinux-alex").bytes)
        let grub = try #require(log.events.last { $0.eventType == .efiBootServicesApplication })
        let digest = try #require(grub.digest(.sha256))
        let rule = GoldenBootEvent(pcr: 4, eventType: .efiBootServicesApplication, descriptionContains: "grubx64",
                                   bank: .sha256, digests: [digest])
        #expect(BootEventRules.events(log, matching: rule).map(\.index) == [grub.index])
        #expect(BootEventRules.evaluate([rule], log: log).isEmpty)

        var wrong = rule
        wrong.digests = [[UInt8](repeating: 0, count: 32)]
        let reasons = BootEventRules.evaluate([wrong], log: log)
        #expect(reasons.map(\.kind) == [Verdict.Reason.Kind.digestNotAllowed])
        #expect(reasons.first?.record == grub.index && reasons.first?.actual == Hex.encode(digest))

        let absent = GoldenBootEvent(pcr: 4, descriptionContains: "xen.efi", bank: .sha256, digests: [digest])
        #expect(BootEventRules.evaluate([absent], log: log).map(\.kind) == [Verdict.Reason.Kind.requiredMissing])
        var optional = absent
        optional.required = false
        #expect(BootEventRules.evaluate([optional], log: log).isEmpty)
        #expect(BootEventRules.evaluate([rule], log: nil).map(\.kind) == [Verdict.Reason.Kind.requiredMissing])

        let sha384 = GoldenBootEvent(pcr: 4, descriptionContains: "grubx64", bank: .sha384,
                                     digests: [[UInt8](repeating: 0, count: 48)])
        #expect(BootEventRules.evaluate([sha384], log: log).first?.detail == "the boot log has no sha384 bank")

        let golden = GoldenValues(name: "laptop", bootEvents: [wrong])
        let verdict = Evaluator.evaluate(.init(quoted: PCRBanks(try RealBootLog.load("glinux-alex").pcrs), records: [],
                                               bootLog: log, golden: golden, runtimePCRs: []))
        #expect(!verdict.trusted && verdict.reasons.map(\.kind) == [Verdict.Reason.Kind.digestNotAllowed])
    }
}
