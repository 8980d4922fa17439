import Attestation
import Foundation
import Testing

/// JSON the tool prints has its keys in natural order (PCR "2" before "15") and keeps every value as written.
@Suite("JSON in natural key order")
struct NaturalJSONTests {
    @Test func digitRunsCompareAsNumbers() {
        let keys = ["15", "2", "10", "1", "0", "23", "sha256", "pcr10", "pcr9", "02", "a", "B"]
        #expect(keys.sorted(by: StrictJSON.naturallyPrecedes) == ["0", "1", "2", "02", "10", "15", "23", "B", "a", "pcr9", "pcr10", "sha256"])
    }

    @Test func orderIsTotalAndStrict() {
        let keys = ["1", "01", "001", "a1", "a01", "a", "", "10", "9", "x9y", "x10y"]
        for a in keys {
            #expect(!StrictJSON.naturallyPrecedes(a, a))
            for b in keys where a != b {
                #expect(StrictJSON.naturallyPrecedes(a, b) != StrictJSON.naturallyPrecedes(b, a), "\(a) vs \(b)")
            }
        }
    }

    @Test func reorderedDocumentKeepsEveryValue() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        struct Doc: Codable, Equatable { var pcrs: [String: [String: String]]; var path: String; var n: Double; var ok: Bool; var note: String? }
        let doc = Doc(pcrs: ["sha256": ["15": "aa", "2": "bb", "10": "cc"]], path: "/boot/xen.gz", n: 0.1, ok: true,
                      note: "tab\there \"quoted\" \u{1} é")
        let text = try StrictJSON.naturallyOrdered(encoder.encode(doc), pretty: true)
        #expect(text.contains("\"2\" : \"bb\",\n      \"10\" : \"cc\",\n      \"15\" : \"aa\""), "\(text)")
        #expect(text.contains("\"/boot/xen.gz\""), "no escaped slashes: \(text)")
        #expect(try JSONDecoder().decode(Doc.self, from: Data(text.utf8)) == doc)
        let line = try StrictJSON.naturallyOrdered(encoder.encode(doc), pretty: false)
        #expect(!line.contains("\n"))
        #expect(try JSONDecoder().decode(Doc.self, from: Data(line.utf8)) == doc)
    }

    @Test func emptyContainersAndScalars() throws {
        #expect(try StrictJSON.naturallyOrdered(Data("{\"a\":[],\"b\":{},\"c\":null,\"d\":-1.5e3}".utf8), pretty: false)
                == "{\"a\":[],\"b\":{},\"c\":null,\"d\":-1.5e3}")
    }
}
