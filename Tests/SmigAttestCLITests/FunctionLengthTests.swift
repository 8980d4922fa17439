import Foundation
import Testing

/// No function in Sources is longer than 80 lines unless its doc comment says why ("… 80 lines …"): a long function
/// is read top to bottom by the next engineer, so it is either split or explained.
@Suite("function length in Sources")
struct FunctionLengthTests {
    static let limit = 80

    /// A function (or initialiser, deinitialiser, subscript) with a body: where it starts, how many lines it spans
    /// from its declaration to its closing brace, and the comment and attribute lines right above it.
    struct Function: CustomStringConvertible {
        var name: String
        var line: Int
        var lines: Int
        var comment: [String]
        var description: String { "\(name) at line \(line): \(lines) lines" }
    }

    @Test func noLongFunctionWithoutAReason() throws {
        let sources = URL(fileURLWithPath: ArchitectureDocTests.root).appendingPathComponent("Sources")
        let files = try #require(FileManager.default.enumerator(atPath: sources.path)).compactMap { $0 as? String }
            .filter { $0.hasSuffix(".swift") }
        #expect(files.count > 100, "Sources was not found at \(sources.path)")
        var unexplained: [String] = []
        for file in files.sorted() {
            let text = try String(contentsOfFile: sources.appendingPathComponent(file).path, encoding: .utf8)
            for f in Self.functions(in: text) where f.lines > Self.limit && !f.comment.contains(where: { $0.contains("\(Self.limit) lines") }) {
                unexplained.append("Sources/\(file): \(f)")
            }
        }
        #expect(unexplained.isEmpty, "split these, or say in their doc comment why they are longer than \(Self.limit) lines:\n\(unexplained.joined(separator: "\n"))")
    }

    /// The scanner sees through strings, interpolations, raw strings and comments, skips requirements without a body,
    /// and counts a function from its declaration to its closing brace.
    @Test func theScannerCountsWhatTheCompilerSees() {
        let filler = Array(repeating: "        x += 1", count: 85).joined(separator: "\n")
        let source = """
            protocol P {
                func required() -> Int
                init(a: Int)
            }
            struct S {
                /// Short.
                func short() -> String { "}{ \\("}" + "{") /* } */" }
                // Longer than 80 lines: a table read top to bottom.
                @discardableResult
                func long(_ y: Int = 0)
                    -> Int {
                    var x = 0 // }
                    let s = #"raw "} \\("#
                    let m = \"""
                        }
                        \"""
            \(filler)
                    return x + s.count + m.count
                }
                init() {
                    let t = "\\(["a": "}"].count)"
                }
                deinit {}
            }
            """
        let found = Self.functions(in: source)
        #expect(found.map(\.name) == ["func short", "func long", "init", "deinit"], "\(found)")
        let long = found.first { $0.name == "func long" }
        #expect(long?.lines == 94 && long?.line == 10, "\(String(describing: long))")
        #expect(long?.comment == ["    @discardableResult", "    // Longer than 80 lines: a table read top to bottom."])
        #expect(found.first { $0.name == "init" }?.lines == 3)
    }

    // MARK: The scanner

    /// Every function with a body in `text`.
    static func functions(in text: String) -> [Function] {
        let lines = text.components(separatedBy: "\n")
        let code = codeOnly(Array(text.utf8))
        var found: [Function] = []
        var i = 0
        while i < code.count {
            guard let (name, end) = declaration(in: code, at: i) else { i += 1; continue }
            if let open = bodyStart(in: code, after: end), let close = matchingClose(in: code, from: open) {
                let first = lineNumber(code, i), last = lineNumber(code, close)
                var comment: [String] = []
                var k = first - 2
                while k >= 0, lines[k].trimmingCharacters(in: .whitespaces).hasPrefix("//") || lines[k].trimmingCharacters(in: .whitespaces).hasPrefix("@") {
                    comment.append(lines[k])
                    k -= 1
                }
                found.append(Function(name: name, line: first, lines: last - first + 1, comment: comment))
            }
            i = end
        }
        return found
    }

    static func isIdentifier(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A }

    /// `func NAME`, `init(`, `init?(`, `init<`, `deinit`, `subscript(` starting at `i`: its name and where it ends.
    static func declaration(in code: [UInt8], at i: Int) -> (String, Int)? {
        if i > 0, isIdentifier(code[i - 1]) || code[i - 1] == UInt8(ascii: ".") { return nil }
        func word(_ w: String) -> Int? {
            guard code[i...].starts(with: w.utf8) else { return nil }
            let after = i + w.utf8.count
            return after < code.count && isIdentifier(code[after]) ? nil : after
        }
        func skipSpaces(_ j: Int) -> Int { var j = j; while j < code.count, isSpace(code[j]) { j += 1 }; return j }
        if let j = word("func"), j < code.count, isSpace(code[j]) {
            var k = skipSpaces(j)
            let start = k
            while k < code.count, !isSpace(code[k]), code[k] != UInt8(ascii: "("), code[k] != UInt8(ascii: "<") { k += 1 }
            return ("func " + String(decoding: code[start..<k], as: UTF8.self), k)
        }
        if var j = word("init") ?? word("init?") ?? word("init!") ?? word("subscript") {
            let name = String(decoding: code[i..<j], as: UTF8.self).replacingOccurrences(of: "?", with: "").replacingOccurrences(of: "!", with: "")
            if j < code.count, code[j] == UInt8(ascii: "?") || code[j] == UInt8(ascii: "!") { j += 1 }
            j = skipSpaces(j)
            return j < code.count && (code[j] == UInt8(ascii: "(") || code[j] == UInt8(ascii: "<")) ? (name, j) : nil
        }
        if let j = word("deinit") { return ("deinit", j) }
        return nil
    }

    /// The `{` that opens the body of the declaration whose signature continues at `start`; nil for a requirement
    /// (a new declaration, a blank line or the enclosing `}` comes first).
    static func bodyStart(in code: [UInt8], after start: Int) -> Int? {
        var depth = 0
        var i = start
        while i < code.count {
            switch code[i] {
            case UInt8(ascii: "("), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: ")"), UInt8(ascii: "]"): depth -= 1
            case UInt8(ascii: "{") where depth == 0: return i
            case UInt8(ascii: "}") where depth == 0: return nil
            case UInt8(ascii: "\n") where depth == 0:
                var j = i + 1
                while j < code.count, code[j] == 0x20 || code[j] == 0x09 { j += 1 }
                let end = code[j...].firstIndex(of: 0x0A) ?? code.count
                let next = String(decoding: code[j..<end], as: UTF8.self)
                let continues = ["->", "where", "async", "throws", "rethrows", "{"].contains { next.hasPrefix($0) }
                if !continues { return nil }
            default: break
            }
            i += 1
        }
        return nil
    }

    static func matchingClose(in code: [UInt8], from open: Int) -> Int? {
        var depth = 0
        for i in open..<code.count {
            if code[i] == UInt8(ascii: "{") { depth += 1 }
            if code[i] == UInt8(ascii: "}") { depth -= 1; if depth == 0 { return i } }
        }
        return nil
    }

    static func lineNumber(_ code: [UInt8], _ i: Int) -> Int { code[..<i].reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) } }

    /// `source` with comments and the text of string literals blanked (newlines kept): the braces left are code's,
    /// including those of interpolations, which are code inside a string.
    static func codeOnly(_ source: [UInt8]) -> [UInt8] {
        enum Mode { case code(parens: Int?), string(hashes: Int, multiline: Bool) }
        var out = source
        var stack: [Mode] = [.code(parens: nil)]
        var i = 0
        func blank(_ from: Int, _ to: Int) { for k in from..<min(to, source.count) where source[k] != 0x0A { out[k] = 0x20 } }
        func starts(_ s: String, at j: Int) -> Bool { j < source.count && source[j...].starts(with: s.utf8) }
        while i < source.count {
            switch stack[stack.count - 1] {
            case .code(let parens):
                if starts("//", at: i) {
                    let end = source[i...].firstIndex(of: 0x0A) ?? source.count
                    blank(i, end); i = end; continue
                }
                if starts("/*", at: i) {
                    var depth = 0, j = i
                    repeat {
                        if starts("/*", at: j) { depth += 1; j += 2 } else if starts("*/", at: j) { depth -= 1; j += 2 } else { j += 1 }
                    } while depth > 0 && j < source.count
                    blank(i, j); i = j; continue
                }
                var hashes = 0
                while starts("#", at: i + hashes) { hashes += 1 }
                if starts("\"", at: i + hashes) {
                    let multiline = starts("\"\"\"", at: i + hashes)
                    let width = hashes + (multiline ? 3 : 1)
                    blank(i, i + width); i += width
                    stack.append(.string(hashes: hashes, multiline: multiline)); continue
                }
                if let parens {
                    if source[i] == UInt8(ascii: "(") { stack[stack.count - 1] = .code(parens: parens + 1) }
                    if source[i] == UInt8(ascii: ")") {
                        if parens == 0 { out[i] = 0x20; stack.removeLast(); i += 1; continue }
                        stack[stack.count - 1] = .code(parens: parens - 1)
                    }
                }
                i += 1
            case .string(let hashes, let multiline):
                let pounds = String(repeating: "#", count: hashes)
                if starts("\\" + pounds + "(", at: i) {
                    blank(i, i + hashes + 2); i += hashes + 2
                    stack.append(.code(parens: 0)); continue
                }
                if hashes == 0, source[i] == UInt8(ascii: "\\") { blank(i, i + 2); i += 2; continue }
                let close = (multiline ? "\"\"\"" : "\"") + pounds
                if starts(close, at: i) { blank(i, i + close.utf8.count); i += close.utf8.count; stack.removeLast(); continue }
                blank(i, i + 1); i += 1
            }
        }
        return out
    }
}
