package import Foundation
import Attestation

/// A reader of JSON in the one form `RegionJSON.encode` writes — no whitespace, no `null`, integers without
/// fraction or exponent, UTF-8 — over borrowed bytes. Every read answers nil (or false) for anything outside that
/// form instead of guessing, so a caller can hand the bytes to Foundation whenever the scanner is not certain.
///
/// Every index is checked before it is read, and numbers are limited to 18 digits, so no input can trap.
package struct JSONByteScanner {
    let bytes: UnsafeRawBufferPointer
    var index = 0

    package init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// True when every byte has been read.
    package var atEnd: Bool { index == bytes.count }

    /// The raw bytes of an object key of printable ASCII without escapes.
    package struct Key {
        let bytes: UnsafeRawBufferPointer

        /// True when the key is exactly `name`.
        package func `is`(_ name: StaticString) -> Bool {
            guard name.utf8CodeUnitCount == bytes.count else { return false }
            let p = name.utf8Start
            for i in 0..<bytes.count where bytes[i] != p[i] { return false }
            return true
        }
    }

    mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// An object whose keys are printable ASCII without escapes; `member` reads the value after each key and
    /// answers false to refuse the key (unknown or repeated) or its value.
    package mutating func object(_ member: (inout JSONByteScanner, Key) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "{")) else { return false }
        if consume(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = plainKey(), consume(UInt8(ascii: ":")), member(&self, key) else { return false }
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "}"))
        }
    }

    /// An object read as a dictionary: any string keys, no two equal (as Swift compares strings).
    package mutating func dictionary<Value>(_ value: (inout JSONByteScanner) -> Value?) -> [String: Value]? {
        guard consume(UInt8(ascii: "{")) else { return nil }
        var out: [String: Value] = [:]
        if consume(UInt8(ascii: "}")) { return out }
        while true {
            guard let key = string(), consume(UInt8(ascii: ":")), let v = value(&self),
                  out.updateValue(v, forKey: key) == nil
            else { return nil }
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "}")) ? out : nil
        }
    }

    /// An array whose elements `element` reads.
    package mutating func array<Element>(_ element: (inout JSONByteScanner) -> Element?) -> [Element]? {
        guard consume(UInt8(ascii: "[")) else { return nil }
        var out: [Element] = []
        if consume(UInt8(ascii: "]")) { return out }
        while true {
            guard let e = element(&self) else { return nil }
            out.append(e)
            if consume(UInt8(ascii: ",")) { continue }
            return consume(UInt8(ascii: "]")) ? out : nil
        }
    }

    mutating func plainKey() -> Key? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let key = Key(bytes: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
                index += 1
                return key
            }
            guard b >= 0x20, b < 0x7F, b != UInt8(ascii: "\\") else { return nil }
            index += 1
        }
        return nil
    }

    /// A string: valid UTF-8 without raw control characters; the escapes `\" \\ \/ \b \f \n \r \t` and `\uXXXX`
    /// (a surrogate only as a high-low pair).
    package mutating func string() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        var ascii = true
        while index < bytes.count {
            let b = bytes[index]
            if b == UInt8(ascii: "\"") {
                let text = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return ascii ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
            }
            if b == UInt8(ascii: "\\") { return escapedString(from: start) }
            if b < 0x20 { return nil }
            if b >= 0x80 { ascii = false }
            index += 1
        }
        return nil
    }

    /// The rest of a string that has an escape at `index`; the bytes from `start` are copied and unescaped.
    mutating func escapedString(from start: Int) -> String? {
        var out = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let b = bytes[index]
            index += 1
            switch b {
            case UInt8(ascii: "\""):
                return String(validating: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let e = bytes[index]
                index += 1
                if let plain = StrictJSON.singleCharacterEscape(e) {
                    out.append(plain)
                    continue
                }
                switch e {
                case UInt8(ascii: "u"):
                    guard let scalar = unicodeEscape() else { return nil }
                    out.append(contentsOf: String(Character(scalar)).utf8)
                default: return nil
                }
            default:
                guard b >= 0x20 else { return nil }
                out.append(b)
            }
        }
        return nil
    }

    /// After `\u`: four hex digits, and for a high surrogate the `\uXXXX` of its low surrogate.
    mutating func unicodeEscape() -> Unicode.Scalar? {
        guard let unit = hex4() else { return nil }
        switch unit {
        case 0xD800...0xDBFF:
            guard consume(UInt8(ascii: "\\")), consume(UInt8(ascii: "u")), let low = hex4(), (0xDC00...0xDFFF).contains(low)
            else { return nil }
            return Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
        case 0xDC00...0xDFFF:
            return nil
        default:
            return Unicode.Scalar(unit)
        }
    }

    mutating func hex4() -> UInt32? {
        guard bytes.count - index >= 4 else { return nil }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[index]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// An integer of at most 18 digits: no leading zero, no `-0`, no fraction or exponent.
    package mutating func int() -> Int? {
        let negative = consume(UInt8(ascii: "-"))
        let start = index
        var value = 0
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            guard index - start < 18 else { return nil }
            value = value * 10 + Int(bytes[index] - 0x30)
            index += 1
        }
        let count = index - start
        guard count > 0, !(count > 1 && bytes[start] == 0x30), !(negative && value == 0) else { return nil }
        if index < bytes.count {
            let next = bytes[index]
            guard next != UInt8(ascii: "."), next != UInt8(ascii: "e"), next != UInt8(ascii: "E") else { return nil }
        }
        return negative ? -value : value
    }

    /// A date as `"yyyy-MM-ddTHH:mm:ssZ"` (see ``UTCSecond``).
    package mutating func date() -> Date? {
        guard bytes.count - index >= 22, bytes[index] == UInt8(ascii: "\""), bytes[index + 21] == UInt8(ascii: "\""),
              let second = UTCSecond(text: UnsafeRawBufferPointer(rebasing: bytes[(index + 1)..<(index + 21)]))
        else { return nil }
        index += 22
        return second.date
    }
}
