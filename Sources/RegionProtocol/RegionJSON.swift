package import Foundation

/// The one JSON dialect of the region's HTTP bodies: ISO 8601 dates, sorted keys, no escaped slashes.
package enum RegionJSON {
    package struct Failure: Error, CustomStringConvertible {
        package let reason: String
        package var description: String { reason }
    }

    package static func encode<T: Encodable>(_ value: T) -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(value)) ?? Data("{}".utf8)
    }

    package static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws(Failure) -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        do { return try decoder.decode(T.self, from: data) } catch {
            throw Failure(reason: "body is not JSON of the expected shape (\(T.self)): \(Self.describe(error))")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let c): "wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.valueNotFound(_, let c): "null at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let c): "corrupted at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'"
        default: "not JSON"
        }
    }
}
