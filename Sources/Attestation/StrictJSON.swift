public import CodedError

/// One strict JSON reader for every JSON document the tool accepts from outside (evidence bundles, the
/// verifier's `--previous` clock file, and later HTTP bodies).
///
/// RFC 8259 grammar, read from bytes, with the choices a verifier needs so that it and any other reader see
/// the same document: a key that appears twice in one object is refused (readers disagree on which one wins),
/// input must be UTF-8 without a byte-order mark, nesting depth and total size are capped, lone surrogates in
/// `\u` escapes are refused, and nothing may follow the document. Numbers are kept as their literal text
/// and converted by the caller (``StrictJSON/Value/integer(_:)``), so no precision is lost silently.
///
/// Unknown fields are refused by ``StrictJSON/checkFields(_:against:)``: the document's tree of object keys
/// must lie within the tree of a canonical re-encoding of what was decoded, so a field the decoder would have
/// ignored is an error at its path.
public enum StrictJSON {
    /// The byte a single-character escape stands for (`\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t`, RFC 8259 §7),
    /// given the byte after the backslash; nil for any other (`\u` is read by the caller).
    public static func singleCharacterEscape(_ e: UInt8) -> UInt8? {
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): e
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "f"): 0x0C
        case UInt8(ascii: "n"): 0x0A
        case UInt8(ascii: "r"): 0x0D
        case UInt8(ascii: "t"): 0x09
        default: nil
        }
    }

    /// A parsed JSON value.
    public indirect enum Value: Sendable, Hashable {
        case null
        case bool(Bool)
        /// A number, as written (validated against the JSON grammar).
        case number(String)
        case string(String)
        case array([Value])
        case object([String: Value])

        /// The value as an integer of type `T`, written without fraction or exponent; nil otherwise.
        public func integer<T: FixedWidthInteger>(_: T.Type = T.self) -> T? {
            guard case let .number(text) = self else { return nil }
            return T(text)
        }
    }

    /// Limits on what is read.
    public struct Limits: Sendable, Hashable {
        /// Largest document in bytes.
        public var maximumBytes: Int
        /// Deepest nesting of arrays and objects.
        public var maximumDepth: Int

        public init(maximumBytes: Int, maximumDepth: Int) {
            self.maximumBytes = maximumBytes
            self.maximumDepth = maximumDepth
        }

        /// Evidence bundles: 16 MiB (a long measurement log fits), depth 16 (bundles nest 5 deep).
        public static let evidence = Limits(maximumBytes: 16 << 20, maximumDepth: 16)
        /// Small configuration-like documents (a clock observation, a verify report): 1 MiB, depth 8.
        public static let small = Limits(maximumBytes: 1 << 20, maximumDepth: 8)
    }

    /// Why a document was refused: a stable code, a reason, and the byte offset (or the key path).
    public struct Error: CodedError {
        public struct Code: ErrorCode {
            public let rawValue: String
            public init(rawValue: String) { self.rawValue = rawValue }

            /// Not JSON (a grammar error, bad escape, invalid UTF-8, trailing bytes).
            public static let syntax = Code(rawValue: "json.syntax")
            /// A key appears twice in one object.
            public static let duplicateKey = Code(rawValue: "json.duplicate-key")
            /// A field the reader does not know.
            public static let unknownField = Code(rawValue: "json.unknown-field")
            /// Nested deeper than the limit.
            public static let tooDeep = Code(rawValue: "json.too-deep")
            /// Larger than the limit.
            public static let tooLarge = Code(rawValue: "json.too-large")
            /// Well-formed JSON of the wrong shape (missing field, wrong type, number out of range).
            public static let shape = Code(rawValue: "json.shape")
        }

        public var code: Code
        public var reason: String
        public var offset: Int?

        public init(_ code: Code, _ reason: String, offset: Int? = nil) {
            self.code = code
            self.reason = reason
            self.offset = offset
        }

        public var description: String {
            if let offset { return "\(code): \(reason) (byte \(offset))" }
            return "\(code): \(reason)"
        }
    }

    /// Parses one JSON document.
    public static func parse(_ bytes: some Collection<UInt8>, limits: Limits) throws(Error) -> Value {
        guard bytes.count <= limits.maximumBytes else {
            throw Error(.tooLarge, "\(bytes.count) bytes; at most \(limits.maximumBytes)")
        }
        var parser = Parser(bytes: Array(bytes), maximumDepth: limits.maximumDepth)
        parser.skipSpace()
        let value = try parser.value(depth: 1)
        parser.skipSpace()
        guard parser.position == parser.bytes.count else {
            throw Error(.syntax, "data after the JSON document", offset: parser.position)
        }
        return value
    }

    /// Refuses any object key in `document` that is absent at the same path in `known` (a canonical re-encoding
    /// of what was decoded). Arrays are compared element by element. A key whose value is `null` in `document`
    /// and absent from `known` is unknown too: optional fields are omitted, not written as null.
    public static func checkFields(_ document: Value, against known: Value) throws(Error) {
        var pending: [(Value, Value, String)] = [(document, known, "")]
        while let (value, reference, path) = pending.popLast() {
            switch (value, reference) {
            case let (.object(fields), .object(referenceFields)):
                for key in fields.keys.sorted() {
                    guard let next = referenceFields[key] else {
                        throw Error(.unknownField, "unknown field '\(path.isEmpty ? key : path + "." + key)'")
                    }
                    pending.append((fields[key] ?? .null, next, path.isEmpty ? key : path + "." + key))
                }
            case let (.array(items), .array(referenceItems)):
                for (index, item) in items.enumerated() where index < referenceItems.count {
                    pending.append((item, referenceItems[index], "\(path)[\(index)]"))
                }
            default:
                break
            }
        }
    }

    struct Parser {
        let bytes: [UInt8]
        let maximumDepth: Int
        var position = 0

        init(bytes: [UInt8], maximumDepth: Int) {
            self.bytes = bytes
            self.maximumDepth = maximumDepth
        }

        mutating func skipSpace() {
            while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
        }

        func fail(_ reason: String) -> Error { Error(.syntax, reason, offset: position) }

        mutating func expect(_ literal: String, _ value: Value) throws(Error) -> Value {
            let utf8 = Array(literal.utf8)
            guard bytes.count - position >= utf8.count, Array(bytes[position..<(position + utf8.count)]) == utf8 else {
                throw fail("expected '\(literal)'")
            }
            position += utf8.count
            return value
        }

        mutating func value(depth: Int) throws(Error) -> Value {
            guard position < bytes.count else { throw fail("unexpected end of the document") }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected byte 0x\(String(bytes[position], radix: 16))")
            }
        }

        mutating func enter(_ depth: Int) throws(Error) {
            guard depth <= maximumDepth else {
                throw Error(.tooDeep, "nested deeper than \(maximumDepth) levels", offset: position)
            }
        }

        mutating func object(depth: Int) throws(Error) -> Value {
            try enter(depth)
            position += 1
            var fields: [String: Value] = [:]
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(fields)
            }
            while true {
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let keyOffset = position
                let key = try string()
                skipSpace()
                guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                position += 1
                skipSpace()
                let item = try value(depth: depth + 1)
                guard fields.updateValue(item, forKey: key) == nil else {
                    throw Error(.duplicateKey, "key '\(key.prefix(64))' appears twice in one object", offset: keyOffset)
                }
                skipSpace()
                guard position < bytes.count else { throw fail("unexpected end inside an object") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(fields) }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func array(depth: Int) throws(Error) -> Value {
            try enter(depth)
            position += 1
            var items: [Value] = []
            skipSpace()
            if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(items)
            }
            while true {
                skipSpace()
                items.append(try value(depth: depth + 1))
                skipSpace()
                guard position < bytes.count else { throw fail("unexpected end inside an array") }
                if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
                if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(items) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func number() throws(Error) -> Value {
            let start = position
            let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            guard position < bytes.count, isDigit(bytes[position]) else { throw fail("a digit must follow '-'") }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
            } else {
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
                position += 1
                guard position < bytes.count, isDigit(bytes[position]) else { throw fail("a digit must follow '.'") }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
                position += 1
                if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                    position += 1
                }
                guard position < bytes.count, isDigit(bytes[position]) else { throw fail("a digit must follow the exponent") }
                while position < bytes.count, isDigit(bytes[position]) { position += 1 }
            }
            guard position - start <= 64 else { throw Error(.syntax, "a number longer than 64 characters", offset: start) }
            return .number(String(decoding: bytes[start..<position], as: UTF8.self))
        }

        mutating func hex4() throws(Error) -> UInt32 {
            guard bytes.count - position >= 4 else { throw fail("a \\u escape needs four hex digits") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[position]
                let digit: UInt8
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
                default: throw fail("a \\u escape needs four hex digits")
                }
                value = value << 4 | UInt32(digit)
                position += 1
            }
            return value
        }

        mutating func string() throws(Error) -> String {
            position += 1
            var out: [UInt8] = []
            while true {
                guard position < bytes.count else { throw fail("unterminated string") }
                let c = bytes[position]
                switch c {
                case UInt8(ascii: "\""):
                    position += 1
                    guard let text = String(validating: out, as: UTF8.self) else {
                        throw fail("a string is not valid UTF-8")
                    }
                    return text
                case UInt8(ascii: "\\"):
                    position += 1
                    guard position < bytes.count else { throw fail("unterminated escape") }
                    let e = bytes[position]
                    position += 1
                    if let plain = StrictJSON.singleCharacterEscape(e) {
                        out.append(plain)
                        continue
                    }
                    switch e {
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard bytes.count - position >= 2, bytes[position] == UInt8(ascii: "\\"),
                                  bytes[position + 1] == UInt8(ascii: "u") else {
                                throw fail("a high surrogate without its low surrogate")
                            }
                            position += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw fail("a high surrogate without its low surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw fail("a lone low surrogate")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw fail("not a Unicode scalar") }
                        out.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default:
                        throw fail("unknown escape '\\\(Character(Unicode.Scalar(e)))'")
                    }
                case 0x00..<0x20:
                    throw fail("a control character inside a string")
                default:
                    out.append(c)
                    position += 1
                }
            }
        }
    }
}
