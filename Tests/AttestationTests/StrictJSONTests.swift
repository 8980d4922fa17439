import TPMWire
import Attestation
import Foundation
import Testing

@Suite("Strict JSON reader")
struct StrictJSONTests {
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
        (#"{"a": 1, "a": 2}"#, StrictJSON.Error.Code.duplicateKey),
        (#"{"x": {"a": 1, "b": 2, "a": 1}}"#, .duplicateKey),
        (#"{"a": 1} x"#, .syntax),
        (#"{"a": 01}"#, .syntax),
        (#"{"a": 1,}"#, .syntax),
        (#"["\ud800"]"#, .syntax),
        (#"["\udc00"]"#, .syntax),
        ("[\"\u{01}\"]", .syntax),
        ("\u{FEFF}{}", .syntax),
        (#"{'a': 1}"#, .syntax),
        ("", .syntax),
        (String(repeating: "[", count: 9) + String(repeating: "]", count: 9), .tooDeep),
        (String(repeating: "[", count: 100_000), .tooDeep),
    ] as [(String, StrictJSON.Error.Code)])
    func malformedOrHostileIsRefused(_ text: String, _ code: StrictJSON.Error.Code) {
        let error = #expect(throws: StrictJSON.Error.self) { try StrictJSON.parse(Array(text.utf8), limits: .small) }
        #expect(error?.code == code, "\(text.prefix(40))")
    }

    @Test func invalidUTF8IsRefused() {
        let error = #expect(throws: StrictJSON.Error.self) { try StrictJSON.parse([0x22, 0xC3, 0x28, 0x22], limits: .small) }
        #expect(error?.code == .syntax)
    }

    @Test func sizeIsCapped() throws {
        let big = "[" + String(repeating: "1,", count: 600_000) + "1]"
        let error = #expect(throws: StrictJSON.Error.self) { try StrictJSON.parse(Array(big.utf8), limits: .small) }
        #expect(error?.code == .tooLarge)
        #expect(try StrictJSON.parse(Array(big.utf8), limits: .evidence) == .array(Array(repeating: .number("1"), count: 600_001)))
    }

    @Test func unknownFieldsAreFoundAtTheirPath() throws {
        let known = try StrictJSON.parse(Array(#"{"a": 1, "list": [{"x": 1}]}"#.utf8), limits: .small)
        try StrictJSON.checkFields(try StrictJSON.parse(Array(#"{"a": 2, "list": [{"x": 3}]}"#.utf8), limits: .small), against: known)
        let unknown = try StrictJSON.parse(Array(#"{"a": 2, "list": [{"x": 3, "y": 4}]}"#.utf8), limits: .small)
        let error = #expect(throws: StrictJSON.Error.self) { try StrictJSON.checkFields(unknown, against: known) }
        #expect(error?.code == .unknownField)
        #expect(error?.reason.contains("list[0].y") == true, "\(String(describing: error))")
    }
}

@Suite("Strict evidence bundles")
struct StrictEvidenceTests {
    static func bundle() throws -> EvidenceBundle {
        var bundle = try QuoteVector.load("quote-ecc-p256").bundle
        bundle.eventLog = [try MeasurementRecord(recnum: 0, pcr: 15, content: .init(
            source: "file", name: "file:/boot/xen.gz", measurement: String(repeating: "ab", count: 32), detail: "4 bytes"))]
        return bundle
    }

    static func bundleText() throws -> String {
        String(decoding: try bundle().encoded(), as: UTF8.self)
    }

    @Test func theEncodedBundleDecodes() throws {
        #expect(try EvidenceBundle.decode(Data(Self.bundleText().utf8)) == Self.bundle())
    }

    @Test func duplicateKeyIsRefused() throws {
        let text = try Self.bundleText()
        // The first of two hostId keys would win in Foundation, the last in most other readers.
        let doubled = text.replacingOccurrences(of: #""hostId" : "#, with: #""hostId" : "evil", "hostId" : "#)
        #expect(doubled != text)
        let error = #expect(throws: AttestationError.self) { try EvidenceBundle.decode(Data(doubled.utf8)) }
        #expect(error?.code.rawValue == "json.duplicate-key")
    }

    @Test func unknownTopLevelFieldIsRefused() throws {
        let text = try Self.bundleText()
        let extra = text.replacingOccurrences(of: #""hostId" : "#, with: #""trusted" : true, "hostId" : "#)
        let error = #expect(throws: AttestationError.self) { try EvidenceBundle.decode(Data(extra.utf8)) }
        #expect(error?.code.rawValue == "json.unknown-field")
    }

    @Test func unknownFieldInsideALogRecordIsRefused() throws {
        let text = try Self.bundleText()
        let extra = text.replacingOccurrences(of: #""recnum" : 0"#, with: #""recnum" : 0, "verified" : true"#)
        #expect(extra != text)
        let error = #expect(throws: AttestationError.self) { try EvidenceBundle.decode(Data(extra.utf8)) }
        #expect(error?.code.rawValue == "json.unknown-field")
    }

    @Test func nullForAnAbsentOptionalIsRefused() throws {
        let text = try Self.bundleText()
        let extra = text.replacingOccurrences(of: #""hostId" : "#, with: #""eventLogUnusable" : null, "hostId" : "#)
        let error = #expect(throws: AttestationError.self) { try EvidenceBundle.decode(Data(extra.utf8)) }
        #expect(error?.code.rawValue == "json.unknown-field")
    }

    @Test func deepNestingIsRefused() throws {
        let text = try Self.bundleText()
        let deep = text.replacingOccurrences(of: #""hostId" : "#,
                                             with: #""x" : "# + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + #", "hostId" : "#)
        let error = #expect(throws: AttestationError.self) { try EvidenceBundle.decode(Data(deep.utf8)) }
        #expect(error?.code.rawValue == "json.too-deep")
    }

    @Test func oversizedBundleIsRefused() throws {
        let huge = Data(repeating: 0x20, count: (16 << 20) + 1)
        let error = #expect(throws: AttestationError.self) { try EvidenceBundle.decode(huge) }
        #expect(error?.code.rawValue == "json.too-large")
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
            let error = #expect(throws: StrictJSON.Error.self) { try ClockObservation.decodeStrictly(Array(text.utf8)) }
            #expect(error?.code == code, "\(text)")
        }
    }
}
