import Foundation
import RegionProtocol
import Testing

/// The writer's numbers and booleans read back as the values written (PostgreSQL reads the store's JSON documents
/// with them: a row's dates and clock values must arrive unchanged).
@Suite("JSON writer: numbers and booleans")
struct CanonicalJSONWriterTests {
    @Test func doublesReadBackAsTheSameValue() throws {
        var rng = SystemRandomNumberGenerator()
        var values: [Double] = [0, -0.0, 1, -1, 0.1, 1e16, 1e-5, 1_700_000_000.123456, .greatestFiniteMagnitude, .leastNonzeroMagnitude,
                                -.greatestFiniteMagnitude, Double(Int64.max), 5e-324]
        for _ in 0..<2_000 { values.append(Double(bitPattern: rng.next() & ~(0x7FF << 52) | (UInt64.random(in: 0...0x7FE) << 52))) }
        var json = CanonicalJSONWriter()
        json.beginArray()
        for v in values { json.double(v) }
        json.endArray()
        let read = try JSONDecoder().decode([Double].self, from: Data(json.bytes))
        #expect(read.count == values.count)
        for (v, r) in zip(values, read) { #expect(r.bitPattern == v.bitPattern || (v == 0 && r == 0), "\(v) read back as \(r)") }
    }

    @Test func nonFiniteNumbersAreNullAndBooleansAreLiterals() throws {
        var json = CanonicalJSONWriter()
        json.beginObject()
        json.key("a"); json.double(.infinity)
        json.key("b"); json.double(.nan)
        json.key("c"); json.bool(true)
        json.key("d"); json.bool(false)
        json.endObject()
        #expect(String(decoding: json.bytes, as: UTF8.self) == #"{"a":null,"b":null,"c":true,"d":false}"#)
    }
}
