import Attestation
import Foundation
import RegionProtocol
import Testing

/// The fast report reader on hostile bodies: for every input it answers nil or exactly what Foundation decodes,
/// and nil whenever Foundation refuses.
@Suite("Fast report reader: nil or Foundation's value on hostile input")
struct ReportDecodingHostileTests {
    /// Byte strings a mutation splices in: whitespace, duplicate and unknown keys, escapes, numbers, dates in
    /// other forms, `null`, invalid UTF-8.
    static let splices: [[UInt8]] = {
        let texts = [" ", "\n", "\t", "\r", #""nonce":"00","#, #""zz":1,"#, #""target":"x","#, #""evidence":null,"#,
                     #""detail":null,"#, #"\u00e9"#, #"\ud83d\ude00"#, #"\ud800"#, #"\udc00"#, #"\ud800\u0041"#, #"\x"#, #"\/"#,
                     #"\""#, #"\\"#, #"\u0000"#, #"\U0041"#, "1.0", "01", "1e3", "1E3", "-0", "-", "99999999999999999999",
                     "9223372036854775807", "-9223372036854775808", "123456789012345678", "1234567890123456789", "0.5",
                     "null", "true", "[]", "{}", ",", ":", "\"", "{", "}", "[", "]", "é", "\u{2028}", "😀",
                     "2025-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-01-01T24:00:00Z",
                     "2025-01-01T23:59:60Z", "2025-01-01T00:00:00+00:00", "2025-01-01T00:00:00.5Z", "2025-01-01 00:00:00Z",
                     "2025-01-01T00:00:00z", "1599-12-31T00:00:00Z", "1600-01-01T00:00:00Z", "12025-01-01T00:00:00Z",
                     "2025-1-01T00:00:00Z", "2025-04-31T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"]
        return texts.map { Array($0.utf8) } + [[0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xE2, 0x82], [0xF4, 0x90, 0x80, 0x80],
                                               [0xEF, 0xBB, 0xBF], [0x00], [0x7F], [0x80]]
    }()

    struct Mutator {
        var samples: ReportCodecSamples

        mutating func position(in bytes: [UInt8]) -> Int { samples.int(0...bytes.count) }

        /// Replaces the text of one date (20 bytes after `"`) or one number with a splice.
        mutating func replaceValue(_ bytes: inout [UInt8]) {
            let text = String(decoding: bytes, as: UTF8.self)
            var targets: [Range<Int>] = []
            if let r = text.utf8.firstRange(of: "agentTime\":\"".utf8) {
                let start = text.utf8.distance(from: text.utf8.startIndex, to: r.upperBound)
                if start + 20 <= bytes.count { targets.append(start..<(start + 20)) }
            }
            for key in ["\"version\":", "\"pcr\":", "\"recnum\":"] {
                if let r = text.utf8.firstRange(of: key.utf8) {
                    let start = text.utf8.distance(from: text.utf8.startIndex, to: r.upperBound)
                    var end = start
                    while end < bytes.count, bytes[end] != UInt8(ascii: ","), bytes[end] != UInt8(ascii: "}") { end += 1 }
                    targets.append(start..<end)
                }
            }
            guard !targets.isEmpty else { return }
            let splice = ReportDecodingHostileTests.splices[samples.int(0...(ReportDecodingHostileTests.splices.count - 1))]
            bytes.replaceSubrange(targets[samples.int(0...(targets.count - 1))], with: splice)
        }

        mutating func mutate(_ bytes: inout [UInt8]) {
            switch samples.int(0...7) {
            case 0 where !bytes.isEmpty: bytes[samples.int(0...(bytes.count - 1))] = UInt8(samples.int(0...255))
            case 1: bytes.removeSubrange(position(in: bytes)...)
            case 2 where !bytes.isEmpty: bytes.remove(at: samples.int(0...(bytes.count - 1)))
            case 3: bytes.insert(UInt8(samples.int(0...255)), at: position(in: bytes))
            case 4, 5: bytes.insert(contentsOf: ReportDecodingHostileTests.splices[samples.int(0...(ReportDecodingHostileTests.splices.count - 1))],
                                    at: position(in: bytes))
            case 6: replaceValue(&bytes)
            default:
                // A duplicate or unknown key right after an object's opening brace.
                let braces = bytes.indices.filter { bytes[$0] == UInt8(ascii: "{") }
                guard let brace = braces.isEmpty ? nil : braces[samples.int(0...(braces.count - 1))] else { return }
                let keys = [#""nonce":"0","#, #""version":1,"#, #""detail":"d","#, #""hashAlg":"sha256","#, #""name":"n","#,
                            #""pcr":1,"#, #""unknown":"u","#, #""instance":"i","#, #""agentTime":"2025-01-01T00:00:00Z","#]
                bytes.insert(contentsOf: Array(keys[samples.int(0...(keys.count - 1))].utf8), at: brace + 1)
            }
        }
    }

    @Test func mutatedReportsAreNilOrFoundationsValue() {
        var mutator = Mutator(samples: ReportCodecSamples(seed: 11))
        var agreed = 0, leftToFoundation = 0, refusedByBoth = 0
        for i in 0..<8_000 {
            var bytes = Array(RegionJSON.encode(mutator.samples.report()))
            for _ in 0..<mutator.samples.int(1...3) { mutator.mutate(&bytes) }
            let data = Data(bytes)
            let foundation = try? RegionJSON.decode(AIMReport.self, from: data)
            let fast = RegionJSON.fastReport(data)
            switch (fast, foundation) {
            case (nil, nil): refusedByBoth += 1
            case (nil, _?): leftToFoundation += 1
            case (let f?, let g):
                #expect(f == g, "case \(i): \(String(decoding: bytes, as: UTF8.self))")
                agreed += 1
            }
        }
        // Each outcome happens: the mutations reach both readers' refusals and leave some reports intact.
        #expect(agreed > 100)
        #expect(leftToFoundation > 100)
        #expect(refusedByBoth > 1000)
    }

    @Test("Hand-picked bodies: nil or Foundation's value", arguments: [
        #"{"nonce":"00","outcome":"no-answer","target":"h"}"#,
        #"{"nonce":"00","outcome":"no-answer","target":"h","nonce":"01"}"#,
        #"{"nonce":"00","outcome":"no-answer","target":"h","zz":1}"#,
        #"{"nonce":"00","outcome":"no-answer","target":"h"} "#,
        #" {"nonce":"00","outcome":"no-answer","target":"h"}"#,
        #"{"nonce":"00","outcome":"no-answer","target":"h"}{}"#,
        #"{"nonce":"00","outcome":"no-answer","target":"h","detail":null}"#,
        #"{"nonce":"\u0030\u0030","outcome":"no-answer","target":"\ud83d\ude00"}"#,
        #"{"nonce":"\ud800","outcome":"no-answer","target":"h"}"#,
        #"{"n\u006fnce":"00","outcome":"no-answer","target":"h"}"#,
        #"{"nonce":"00","outcome":"no-answer","target":"\#u{212A}"}"#,
        #"{"nonce":"00","outcome":"No-answer","target":"h"}"#,
        #"{"evidence":{"agentTime":"2025-02-29T00:00:00Z","akName":"","akPublic":"","attest":"","hostId":"","nonce":"","pcrSelection":"","pcrs":{},"signature":"","version":1},"nonce":"00","outcome":"evidence","target":"h"}"#,
        #"{"evidence":{"agentTime":"2024-02-29T23:59:59Z","akName":"","akPublic":"","attest":"","hostId":"","nonce":"","pcrSelection":"","pcrs":{"sha256":{"é":"1","e\u0301":"2"}},"signature":"","version":1},"nonce":"00","outcome":"evidence","target":"h"}"#,
        #"{"evidence":{"agentTime":"2024-02-29T23:59:59Z","akName":"","akPublic":"","attest":"","hostId":"","nonce":"","pcrSelection":"","pcrs":{"sha256":{"1":"1","1":"2"}},"signature":"","version":1},"nonce":"00","outcome":"evidence","target":"h"}"#,
        #"{"evidence":{"agentTime":"2024-02-29T23:59:59Z","akName":"","akPublic":"","attest":"","hostId":"","nonce":"","pcrSelection":"","pcrs":{},"signature":"","version":1.0},"nonce":"00","outcome":"evidence","target":"h"}"#,
        #"{"evidence":{"agentTime":"2024-02-29T23:59:59Z","akName":"","akPublic":"","attest":"","hostId":"","nonce":"","pcrSelection":"","pcrs":{},"signature":"","version":-0},"nonce":"00","outcome":"evidence","target":"h"}"#,
        #"{"evidence":{"agentTime":"2024-02-29T23:59:59Z","akName":"","akPublic":"","attest":"","eventLog":[],"hostId":"","nonce":"","pcrSelection":"","pcrs":{},"signature":"","version":1},"nonce":"00","outcome":"evidence","target":"h"}"#,
    ])
    func handPicked(_ body: String) {
        let data = Data(body.utf8)
        let foundation = try? RegionJSON.decode(AIMReport.self, from: data)
        if let fast = RegionJSON.fastReport(data) { #expect(fast == foundation) }
    }

    @Test func theSimplestReportIsReadFast() {
        #expect(RegionJSON.fastReport(Data(#"{"nonce":"00","outcome":"no-answer","target":"h"}"#.utf8))
                == AIMReport(target: "h", nonce: "00", outcome: .noAnswer))
    }
}
