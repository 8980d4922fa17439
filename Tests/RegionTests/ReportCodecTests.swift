import Attestation
import Foundation
import RegionProtocol
import Testing

/// The report path's fast codec against Foundation's: the same bytes out, the same values in.
@Suite("Fast report codec: identical to RegionJSON")
struct ReportCodecTests {
    static let count = 2_500

    @Test func bundlesEncodeToTheSameBytes() {
        var samples = ReportCodecSamples(seed: 1)
        for i in 0..<Self.count {
            let bundle = samples.bundle(ints: true, fractional: true)
            let fast = RegionJSON.fastEncode(bundle)
            let foundation = RegionJSON.encode(bundle)
            #expect(fast == foundation, "sample \(i): \(String(decoding: fast, as: UTF8.self)) != \(String(decoding: foundation, as: UTF8.self))")
            if fast != foundation { return }
        }
    }

    @Test func reportResultsEncodeToTheSameBytes() {
        var samples = ReportCodecSamples(seed: 2)
        for i in 0..<Self.count {
            let result = samples.result()
            let fast = RegionJSON.fastEncode(result)
            let foundation = RegionJSON.encode(result)
            #expect(fast == foundation, "sample \(i): \(String(decoding: fast, as: UTF8.self)) != \(String(decoding: foundation, as: UTF8.self))")
            if fast != foundation { return }
        }
    }

    @Test func reportsEncodeToTheSameBytes() {
        var samples = ReportCodecSamples(seed: 3)
        for i in 0..<Self.count {
            let report = samples.report(ints: true, fractional: true)
            #expect(RegionJSON.fastEncode(report) == RegionJSON.encode(report), "sample \(i)")
        }
    }

    @Test func reportsAsAgentsSendThemDecodeToTheSameValue() throws {
        var samples = ReportCodecSamples(seed: 4)
        for i in 0..<Self.count {
            let report = samples.report()
            let bytes = RegionJSON.encode(report)
            let foundation = try RegionJSON.decode(AIMReport.self, from: bytes)
            let fast = RegionJSON.fastReport(bytes)
            #expect(fast == foundation, "sample \(i): \(String(decoding: bytes, as: UTF8.self))")
            #expect(fast == report, "sample \(i)")
            #expect(try RegionJSON.decodeReport(bytes) == report)
        }
    }

    /// The evidence bytes kept with a verdict are the bundle's value in the body as sent: a document that decodes to
    /// the bundle the report carries, also from a body that is a slice of a larger buffer and with its keys in another
    /// order than the encoder's.
    @Test func evidenceAsSentIsTheBundlesValueInTheBody() throws {
        var samples = ReportCodecSamples(seed: 8)
        for i in 0..<Self.count {
            let report = samples.report()
            let encoded = RegionJSON.encode(report)
            let bundleBytes = report.evidence.map(RegionJSON.encode)
            // The same report with `target` last and `evidence` first, inside a larger buffer.
            var reordered = Data()
            if let bundleBytes { reordered += Data(#"{"evidence":"#.utf8) + bundleBytes + Data(",".utf8) } else { reordered += Data("{".utf8) }
            let fields: [(String, String?)] = [("target", report.target), ("reporterVerdict", report.reporterVerdict),
                                               ("outcome", report.outcome.rawValue), ("nonce", report.nonce), ("detail", report.detail)]
            let rest = fields.compactMap { key, value in value.map { Data("\"\(key)\":".utf8) + RegionJSON.encode($0) } }
            reordered += Data(rest.joined(separator: Data(",".utf8))) + Data("}".utf8)
            let buffer = Data("xx".utf8) + reordered + Data("yy".utf8)
            let body = buffer[buffer.startIndex + 2 ..< buffer.endIndex - 2]
            for bytes in [encoded, body] {
                let (read, asSent) = try RegionJSON.decodeReportAsSent(bytes)
                #expect(read == report, "sample \(i)")
                #expect(asSent == bundleBytes, "sample \(i): \(String(decoding: bytes, as: UTF8.self))")
                if let asSent { #expect(try RegionJSON.decode(EvidenceBundle.self, from: asSent) == report.evidence) }
            }
        }
    }

    /// A body the fast reader leaves to Foundation (whitespace) is read all the same, without bytes as sent: the IVT
    /// then keeps the bundle encoded again.
    @Test func aBodyReadByFoundationHasNoEvidenceAsSent() throws {
        var samples = ReportCodecSamples(seed: 9)
        var report = samples.report()
        while report.evidence == nil { report = samples.report() }
        let spaced = Data(String(decoding: RegionJSON.encode(report), as: UTF8.self).replacingOccurrences(of: #"{"evidence":"#, with: #"{ "evidence":"#).utf8)
        let (read, asSent) = try RegionJSON.decodeReportAsSent(spaced)
        #expect(read == report)
        #expect(asSent == nil)
    }

    @Test func bundlesDecodeToTheSameValue() throws {
        var samples = ReportCodecSamples(seed: 5)
        for i in 0..<Self.count {
            let bundle = samples.bundle()
            let bytes = RegionJSON.encode(bundle)
            #expect(RegionJSON.fastBundle(bytes) == bundle, "sample \(i): \(String(decoding: bytes, as: UTF8.self))")
        }
    }

    /// Integers the fast reader leaves to Foundation (19 digits and more) and dates outside 1600...9999: nil, or
    /// the same value.
    @Test func valuesOutsideTheSimpleFormAreLeftToFoundation() {
        var samples = ReportCodecSamples(seed: 6)
        var leftToFoundation = 0
        for i in 0..<Self.count {
            let report = samples.report(ints: true, fractional: true)
            let bytes = RegionJSON.encode(report)
            // Foundation cannot read back every date it writes (years after 9999): then the fast reader refuses too.
            let foundation = try? RegionJSON.decode(AIMReport.self, from: bytes)
            guard let fast = RegionJSON.fastReport(bytes) else {
                leftToFoundation += 1
                continue
            }
            #expect(fast == foundation, "sample \(i): \(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(leftToFoundation > 0)
        #expect(leftToFoundation < Self.count)
    }

    @Test("JSONEncoder's rules, as the fast writer copies them", arguments: [
        // Keys in UTF-8 byte order: "10" before "2", upper case before "_" before lower case, DEL before é before 😀.
        (["10": "a", "9": "b", "2": "c", "a": "d", "B": "e", "_": "f", "\u{7F}": "g", "é": "h", "😀": "i", "\u{FFFD}": "j"],
         #"{"10":"a","2":"c","9":"b","B":"e","_":"f","a":"d","\#u{7F}":"g","é":"h","\#u{FFFD}":"j","😀":"i"}"#),
        (["s": "\u{0}\u{1}\u{8}\u{9}\u{A}\u{B}\u{C}\u{D}\u{1F}\"\\/\u{7F}\u{2028}é"],
         #"{"s":"\u0000\u0001\b\t\n\u000b\f\r\u001f\"\\/\#u{7F}\#u{2028}é"}"#),
    ])
    func writerMatchesEncoderRules(_ pcrs: [String: String], _ expected: String) {
        var samples = ReportCodecSamples(seed: 7)
        var bundle = samples.bundle()
        bundle.pcrs = ["sha256": pcrs]
        let fast = String(decoding: RegionJSON.fastEncode(bundle), as: UTF8.self)
        #expect(fast.contains(expected))
        #expect(RegionJSON.fastEncode(bundle) == RegionJSON.encode(bundle))
    }

    @Test func aBodyFoundationRefusesFailsWithFoundationsReason() {
        let bytes = Data(#"{"nonce":"00","outcome":"maybe","target":"h"}"#.utf8)
        #expect(RegionJSON.fastReport(bytes) == nil)
        var fastReason = "", foundationReason = ""
        do { _ = try RegionJSON.decodeReport(bytes) } catch { fastReason = error.reason }
        do { _ = try RegionJSON.decode(AIMReport.self, from: bytes) } catch { foundationReason = error.reason }
        #expect(!fastReason.isEmpty)
        #expect(fastReason == foundationReason)
    }
}
