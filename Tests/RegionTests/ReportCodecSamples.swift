import Attestation
import Foundation
import RegionProtocol
import TPMWire

/// A seeded generator (SplitMix64): the same seed, the same samples, so a failure can be replayed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random values of the report path's types, with the strings and dates that make JSON hard: quotes, backslashes,
/// slashes, every control character, DEL, U+2028, non-ASCII, emoji, combining marks; dates from 1600 to 9999
/// (and, for encoding, fractional ones and ones outside that range).
struct ReportCodecSamples {
    var rng: SeededGenerator

    init(seed: UInt64) { rng = SeededGenerator(seed: seed) }

    static let awkward: [String] = ["\"", "\\", "/", "\u{7F}", "\u{2028}", "\u{2029}", "é", "e\u{301}", "😀", "👩‍👩‍👧",
                                    "\u{FFFF}", "\u{FEFF}", "中", "\u{10FFFF}", "K", "\u{212A}", " ", "\\u0041", "</", "{}", "[]",
                                    ":", ",", "null", "1e3"]

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }

    mutating func string(maxLength: Int = 12) -> String {
        var out = ""
        for _ in 0..<int(0...maxLength) {
            switch int(0...9) {
            case 0: out.unicodeScalars.append(Unicode.Scalar(UInt8(int(0...0x1F))))
            case 1, 2: out += Self.awkward[int(0...(Self.awkward.count - 1))]
            case 3:
                let value = UInt32(int(0x80...0x10FFFF))
                out.unicodeScalars.append(Unicode.Scalar(value) ?? "?")
            default: out.unicodeScalars.append(Unicode.Scalar(UInt8(int(0x20...0x7E))))
            }
        }
        return out
    }

    mutating func optionalString() -> String? { chance(0.5) ? string() : nil }

    /// A whole second from 1600 to 9999, mostly around now.
    mutating func wholeDate() -> Date {
        let seconds = chance(0.7) ? int(0...4_102_444_800) : int(-11_676_096_000...253_402_300_799)
        return Date(timeIntervalSince1970: Double(seconds))
    }

    /// Any date the encoder may meet: whole seconds, fractions (as `Date()` has), and years outside 1600...9999.
    mutating func anyDate() -> Date {
        switch int(0...9) {
        case 0: return Date(timeIntervalSince1970: Double.random(in: -70_000_000_000...400_000_000_000, using: &rng))
        case 1, 2, 3: return wholeDate()
        default: return Date(timeIntervalSince1970: Double.random(in: 0...4_102_444_800, using: &rng))
        }
    }

    mutating func smallInt() -> Int { chance(0.9) ? int(0...30) : int(-1_000_000...1_000_000_000) }

    mutating func anyInt() -> Int { chance(0.1) ? [Int.min, Int.max, -1, 0][int(0...3)] : smallInt() }

    mutating func record(ints: Bool) -> MeasurementRecord {
        let content = MeasurementRecord.Content(source: string(), name: string(), instance: optionalString(), measurement: string(),
                                                value: optionalString(), detail: string())
        // Banks: none; the digests are set below, random like everything else.
        var record = try! MeasurementRecord(recnum: ints ? anyInt() : smallInt(), pcr: ints ? anyInt() : int(0...23),
                                            content: content, banks: [])
        record.digests = (0..<int(0...3)).map { _ in MeasurementRecord.Digest(hashAlg: string(), digest: string()) }
        record.contentType = chance(0.8) ? MeasurementRecord.contentType : string()
        return record
    }

    /// `ints`: any Int (Int.min, Int.max) where a bundle has integers; else ones the fast reader reads.
    /// `fractional`: any date; else whole seconds from 1600 to 9999.
    mutating func bundle(ints: Bool = false, fractional: Bool = false) -> EvidenceBundle {
        var b = EvidenceBundle(hostId: string(), akPublic: [], akName: [], nonce: [], attest: [], signature: [],
                               selection: PCRSelectionList([]), pcrValues: [], agentTime: fractional ? anyDate() : wholeDate())
        b.version = ints ? anyInt() : (chance(0.9) ? 1 : smallInt())
        b.akPublic = string(maxLength: 40)
        b.akName = string()
        b.nonce = string()
        b.attest = string(maxLength: 40)
        b.signature = string()
        b.pcrSelection = string()
        var pcrs: [String: [String: String]] = [:]
        for _ in 0..<int(0...3) {
            let bank = chance(0.7) ? ["sha1", "sha256", "sha384", "sha512"][int(0...3)] : string()
            var values: [String: String] = [:]
            for _ in 0..<int(0...24) { values[chance(0.8) ? String(int(0...23)) : string()] = string(maxLength: 64) }
            pcrs[bank] = values
        }
        b.pcrs = pcrs
        b.eventLog = chance(0.8) ? (0..<int(0...4)).map { _ in record(ints: ints) } : nil
        b.bootLog = chance(0.3) ? string(maxLength: 60) : nil
        b.eventLogUnusable = chance(0.2) ? string() : nil
        return b
    }

    mutating func report(ints: Bool = false, fractional: Bool = false) -> AIMReport {
        AIMReport(target: string(), nonce: string(), outcome: chance(0.8) ? .evidence : .noAnswer,
                  evidence: chance(0.8) ? bundle(ints: ints, fractional: fractional) : nil,
                  reporterVerdict: optionalString(), detail: optionalString())
    }

    mutating func result() -> ReportResult {
        let next: RingAssignment? = chance(0.7)
            ? RingAssignment(target: optionalString(), address: optionalString(), port: chance(0.5) ? anyInt() : nil,
                             nonce: optionalString(), pcrSelection: optionalString(), validUntil: chance(0.7) ? anyDate() : nil)
            : nil
        return ReportResult(target: string(), state: string(), code: optionalString(), detail: optionalString(), next: next)
    }
}
