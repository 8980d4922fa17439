import TPMWire
import Attestation
import Foundation
import Testing

@Suite("Strict JSON reader")
struct StrictJSONTests {
    static func code(_ text: String, limits: StrictJSON.Limits = .small) -> StrictJSON.Error.Code? {
        do {
            _ = try StrictJSON.parse(Array(text.utf8), limits: limits)
            return nil
        } catch {
            return error.code
        }
    }

    @Test func wellFormedDocumentsParse() throws {
        let value = try StrictJSON.parse(Array(#" {"a": [1, -2.5e3, true, false, null, "x\u00e9\ud83d\ude00\n"], "b": {}} "#.utf8),
                                         limits: .small)
        guard case let .object(fields) = value, case let .array(items) = fields["a"] else {
            Issue.record("not an object with an array: \(value)")
            return
        }
        #expect(items == [.number("1"), .number("-2.5e3"), .bool(true), .bool(false), .null, .string("xé😀\n")])
        #expect(fields["b"] == .object([:]))
        #expect(items[0].integer(UInt64.self) == 1)
        #expect(items[1].integer(Int.self) == nil)
    }

    @Test(arguments: [
        (#"{"a": 1, "a": 2}"#, "json.duplicate-key"),
        (#"{"x": {"a": 1, "b": 2, "a": 1}}"#, "json.duplicate-key"),
        (#"{"a": 1} x"#, "json.syntax"),
        (#"{"a": 01}"#, "json.syntax"),
        (#"{"a": 1,}"#, "json.syntax"),
        (#"["\ud800"]"#, "json.syntax"),
        (#"["\udc00"]"#, "json.syntax"),
        ("[\"\u{01}\"]", "json.syntax"),
        ("\u{FEFF}{}", "json.syntax"),
        (#"{'a': 1}"#, "json.syntax"),
        ("", "json.syntax"),
        (String(repeating: "[", count: 9) + String(repeating: "]", count: 9), "json.too-deep"),
        (String(repeating: "[", count: 100_000), "json.too-deep"),
    ])
    func malformedOrHostileIsRefused(_ text: String, _ code: String) {
        #expect(Self.code(text)?.rawValue == code, "\(text.prefix(40))")
    }

    @Test func invalidUTF8IsRefused() {
        #expect(throws: StrictJSON.Error.self) { try StrictJSON.parse([0x22, 0xC3, 0x28, 0x22], limits: .small) }
    }

    @Test func sizeIsCapped() {
        let big = "[" + String(repeating: "1,", count: 600_000) + "1]"
        #expect(Self.code(big)?.rawValue == "json.too-large")
        #expect(Self.code(big, limits: .evidence) == nil)
    }

    @Test func unknownFieldsAreFoundAtTheirPath() throws {
        let known = try StrictJSON.parse(Array(#"{"a": 1, "list": [{"x": 1}]}"#.utf8), limits: .small)
        try StrictJSON.checkFields(try StrictJSON.parse(Array(#"{"a": 2, "list": [{"x": 3}]}"#.utf8), limits: .small), against: known)
        do {
            try StrictJSON.checkFields(try StrictJSON.parse(Array(#"{"a": 2, "list": [{"x": 3, "y": 4}]}"#.utf8), limits: .small),
                                       against: known)
            Issue.record("unknown field accepted")
        } catch {
            #expect(error.code == .unknownField)
            #expect(error.reason.contains("list[0].y"), "\(error)")
        }
    }
}

@Suite("Strict evidence bundles")
struct StrictEvidenceTests {
    static func bundleText() throws -> String {
        let v = try QuoteVector.load("quote-ecc-p256")
        var bundle = v.bundle
        bundle.eventLog = [try MeasurementRecord(recnum: 0, pcr: 15, content: .init(
            source: "file", name: "file:/boot/xen.gz", measurement: String(repeating: "ab", count: 32), detail: "4 bytes"))]
        return String(decoding: bundle.encoded(), as: UTF8.self)
    }

    static func code(_ text: String) -> String? {
        do {
            _ = try EvidenceBundle.decode(Data(text.utf8))
            return nil
        } catch {
            return error.code.rawValue
        }
    }

    @Test func theEncodedBundleDecodes() throws {
        #expect(Self.code(try Self.bundleText()) == nil)
    }

    @Test func duplicateKeyIsRefused() throws {
        let text = try Self.bundleText()
        // The first of two hostId keys would win in Foundation, the last in most other readers.
        let doubled = text.replacingOccurrences(of: #""hostId" : "#, with: #""hostId" : "evil", "hostId" : "#)
        #expect(doubled != text)
        #expect(Self.code(doubled) == "json.duplicate-key")
    }

    @Test func unknownTopLevelFieldIsRefused() throws {
        let text = try Self.bundleText()
        let extra = text.replacingOccurrences(of: #""hostId" : "#, with: #""trusted" : true, "hostId" : "#)
        #expect(Self.code(extra) == "json.unknown-field")
    }

    @Test func unknownFieldInsideALogRecordIsRefused() throws {
        let text = try Self.bundleText()
        let extra = text.replacingOccurrences(of: #""recnum" : 0"#, with: #""recnum" : 0, "verified" : true"#)
        #expect(extra != text)
        #expect(Self.code(extra) == "json.unknown-field")
    }

    @Test func nullForAnAbsentOptionalIsRefused() throws {
        let text = try Self.bundleText()
        let extra = text.replacingOccurrences(of: #""hostId" : "#, with: #""eventLogUnusable" : null, "hostId" : "#)
        #expect(Self.code(extra) == "json.unknown-field")
    }

    @Test func deepNestingIsRefused() throws {
        let text = try Self.bundleText()
        let deep = text.replacingOccurrences(of: #""hostId" : "#,
                                             with: #""x" : "# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + #", "hostId" : "#)
        #expect(Self.code(deep) == "json.too-deep")
    }

    @Test func oversizedBundleIsRefused() throws {
        let huge = Data(repeating: 0x20, count: (16 << 20) + 1)
        do {
            _ = try EvidenceBundle.decode(huge)
            Issue.record("accepted")
        } catch {
            #expect(error.code.rawValue == "json.too-large")
        }
    }

    @Test func clockObservationIsReadStrictly() throws {
        let bare = try ClockObservation.decodeStrictly(Array(#"{"clock": 5, "resetCount": 1, "restartCount": 0}"#.utf8))
        #expect(bare == ClockObservation(clock: 5, resetCount: 1, restartCount: 0))
        let report = try ClockObservation.decodeStrictly(Array(
            #"{"result": "valid", "nonceChecked": true, "clock": {"clock": 7, "resetCount": 2, "restartCount": 1}}"#.utf8))
        #expect(report == ClockObservation(clock: 7, resetCount: 2, restartCount: 1))
        let refused: [(String, StrictJSON.Error.Code)] = [
            (#"{"clock": 5, "resetCount": 1, "restartCount": 0, "clock": 9}"#, .duplicateKey),
            (#"{"clock": 5, "resetCount": 1, "restartCount": 0, "extra": 1}"#, .unknownField),
            (#"{"clock": -5, "resetCount": 1, "restartCount": 0}"#, .shape),
            (#"{"clock": 5, "resetCount": 4294967296, "restartCount": 0}"#, .shape),
            (#"{"clock": 5.5, "resetCount": 1, "restartCount": 0}"#, .shape),
            (#"{"result": "valid", "bogus": 1, "clock": {"clock": 7, "resetCount": 2, "restartCount": 1}}"#, .unknownField),
        ]
        for (text, code) in refused {
            do {
                _ = try ClockObservation.decodeStrictly(Array(text.utf8))
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.code == code, "\(text)")
            }
        }
    }
}
