import TPMWire
public import Yams

/// A strict walker over a composed Yams `Node` tree.
///
/// The policy schemas are decoded by hand instead of through `Codable` so that every rejection can point at
/// the node that caused it (Yams keeps a `Mark` per node) and carry a hint for the person editing the file.
public struct PolicySource: Sendable {
    /// The file name used in error messages.
    public let file: String

    public init(file: String) { self.file = file }

    // MARK: Errors

    func error(_ code: PolicyError.Code, at node: Node?, _ message: String, hint: String? = nil) -> PolicyError {
        let mark = node?.mark
        return PolicyError(code, file: file, line: mark?.line ?? 0, column: mark?.column ?? 0,
                           message: message, hint: hint)
    }

    // MARK: Documents

    /// Composes exactly one YAML document, turning Yams errors into ``PolicyError``s with positions.
    ///
    /// A leading UTF-8 byte-order mark is skipped (editors on some systems write one). Anchors (`&x`), aliases
    /// (`*x`) and merge keys (`<<`) are refused: each entry of a policy must be readable on its own.
    public func compose(_ text: String) throws(PolicyError) -> Node {
        var text = text
        if text.unicodeScalars.first == "\u{FEFF}" { text.unicodeScalars.removeFirst() }
        let nodes: [Node]
        do {
            // Parser.nextRoot() reports errors; iterating compose_all(yaml:) would stop silently at the first.
            let parser = try Parser(yaml: text)
            var all: [Node] = []
            while let node = try parser.nextRoot() {
                all.append(node)
                if all.count > 1 { break }
            }
            // Yams resolves an alias to the anchored node itself and keeps anchors only while the parser
            // lives, so the check runs here: any node that carries an anchor was named for reuse.
            for node in all { try rejectAnchors(node) }
            nodes = all
        } catch let policyError as PolicyError {
            throw policyError
        } catch let yamlError as YamlError {
            throw translate(yamlError)
        } catch {
            throw PolicyError(.yamlSyntax, file: file, line: 0, column: 0, message: "\(error)")
        }
        guard nodes.count == 1, let node = nodes.first else {
            throw PolicyError(.documentCount, file: file, line: nodes.isEmpty ? 0 : 1, column: nodes.isEmpty ? 0 : 1,
                              message: nodes.isEmpty ? "the file holds no YAML document"
                                                     : "the file holds more than one YAML document; a policy is one",
                              hint: nodes.isEmpty ? "start with 'kind: golden-values' or 'kind: region'"
                                                  : "remove the extra '---' separators")
        }
        return node
    }

    private func translate(_ error: YamlError) -> PolicyError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            var message = problem
            if let context { message += " (\(context.text) at \(context.mark.line):\(context.mark.column))" }
            let unsupported = problem.contains("undefined alias") || problem.contains("anchor")
            return PolicyError(unsupported ? .unsupportedYAML : .yamlSyntax, file: file, line: mark.line,
                               column: mark.column, message: "malformed YAML: \(message)",
                               hint: "check indentation and quoting on this line")
        case let .duplicatedKeysInMapping(duplicates, context):
            let name = duplicates.first ?? "?"
            return PolicyError(.duplicateKey, file: file, line: context.mark.line, column: context.mark.column,
                               message: "duplicate key '\(name)' in one mapping",
                               hint: "this is the first of two entries with this key; merge them")
        case let .reader(problem, _, _, _):
            return PolicyError(.yamlSyntax, file: file, line: 0, column: 0, message: "unreadable YAML text: \(problem)",
                               hint: "policies are UTF-8 text")
        default:
            return PolicyError(.yamlSyntax, file: file, line: 0, column: 0, message: "malformed YAML: \(error)")
        }
    }

    // MARK: Mappings

    /// Returns the key/value pairs of a mapping, after checking that every key is a known plain string.
    func mapping(_ node: Node, what: String, allowed: [String]) throws(PolicyError) -> Fields {
        try rejectAlias(node)
        guard case let .mapping(mapping) = node else {
            throw error(.wrongType, at: node, "\(what) must be a mapping, found \(kindName(node))",
                        hint: "write it as 'key: value' lines indented under its parent")
        }
        var fields = Fields(node: node, source: self, what: what)
        for (keyNode, value) in mapping {
            try rejectAlias(keyNode)
            try rejectAlias(value)
            guard case let .scalar(keyScalar) = keyNode else {
                throw error(.wrongType, at: keyNode, "keys of \(what) must be plain strings")
            }
            let key = keyScalar.string
            if !allowed.isEmpty, !allowed.contains(key) {
                throw error(.unknownKey, at: keyNode, "unknown key '\(key)' in \(what)",
                            hint: Self.suggestion(for: key, among: allowed))
            }
            fields.pairs.append((key, keyNode, value))
        }
        return fields
    }

    static func suggestion(for key: String, among allowed: [String]) -> String {
        let best = allowed.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
        if let best, best.1 <= max(2, key.count / 3) {
            return "did you mean '\(best.0)'?"
        }
        return "allowed keys: " + allowed.joined(separator: ", ")
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.unicodeScalars), b = Array(b.unicodeScalars)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// Refuses anchors (and therefore aliases, which Yams resolves to the anchored node) and merge keys anywhere
    /// in the tree. Iterative, so a deeply nested document cannot exhaust the stack.
    func rejectAnchors(_ root: Node) throws(PolicyError) {
        var pending: [Node] = [root]
        while let node = pending.popLast() {
            if let anchor = node.anchor {
                throw error(.unsupportedYAML, at: node,
                            "YAML anchors and aliases are not accepted in policies (anchor '&\(anchor.rawValue)')",
                            hint: "write the value out in full so each entry can be reviewed on its own")
            }
            switch node {
            case let .mapping(mapping):
                for (key, value) in mapping {
                    if case let .scalar(scalar) = key, scalar.style == .plain, scalar.string == "<<" {
                        throw error(.unsupportedYAML, at: key, "YAML merge keys ('<<') are not accepted in policies",
                                    hint: "write the merged keys out in full")
                    }
                    pending.append(key)
                    pending.append(value)
                }
            case let .sequence(sequence):
                pending.append(contentsOf: sequence)
            case .scalar, .alias:
                break
            }
        }
    }

    func rejectAlias(_ node: Node) throws(PolicyError) {
        if case .alias = node {
            throw error(.unsupportedYAML, at: node, "YAML aliases are not accepted in policies",
                        hint: "write the value out in full so each entry can be reviewed on its own")
        }
    }

    func kindName(_ node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar):
            if isNull(scalar) { return "nothing (null)" }
            return "'\(scalar.string)'"
        }
    }

    func isNull(_ scalar: Node.Scalar) -> Bool {
        scalar.style == .plain && ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    // MARK: Scalars

    func string(_ node: Node, what: String) throws(PolicyError) -> String {
        try rejectAlias(node)
        guard case let .scalar(scalar) = node, !isNull(scalar) else {
            throw error(.wrongType, at: node, "\(what) must be a string, found \(kindName(node))")
        }
        return scalar.string
    }

    func nonEmptyString(_ node: Node, what: String) throws(PolicyError) -> String {
        let value = try string(node, what: what)
        guard !value.isEmpty else { throw error(.badValue, at: node, "\(what) must not be empty") }
        return value
    }

    /// An integer written in canonical decimal: no sign, no leading zero, no `0x`/`0o` prefix, no `_`, so that
    /// `0`, `00` and `+0` cannot name the same thing (as PCR keys they would silently merge).
    func int(_ node: Node, what: String, range: ClosedRange<Int>) throws(PolicyError) -> Int {
        let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        guard case let .scalar(scalar) = node, scalar.style == .plain,
              let first = scalar.string.utf8.first(where: { $0 != UInt8(ascii: "+") && $0 != UInt8(ascii: "-") }),
              isDigit(first) else {
            throw error(.wrongType, at: node, "\(what) must be an integer, found \(kindName(node))")
        }
        let text = scalar.string
        let digits = text.hasPrefix("-") ? text.utf8.dropFirst() : text.utf8[...]
        guard !digits.isEmpty, digits.allSatisfy(isDigit), digits.count == 1 || digits.first != UInt8(ascii: "0"),
              text != "-0" else {
            throw error(.nonCanonicalNumber, at: node, "\(what) '\(text)' is not written as a plain decimal number",
                        hint: "write it without sign, leading zeros or prefix, e.g. 0, 7 or 23")
        }
        guard let value = Int(text) else {
            throw error(.outOfRange, at: node, "\(what) \(text) is out of range",
                        hint: "allowed: \(range.lowerBound)...\(range.upperBound)")
        }
        guard range.contains(value) else {
            throw error(.outOfRange, at: node, "\(what) \(value) is out of range",
                        hint: "allowed: \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func bool(_ node: Node, what: String) throws(PolicyError) -> Bool {
        guard case let .scalar(scalar) = node, scalar.style == .plain else {
            throw error(.wrongType, at: node, "\(what) must be true or false, found \(kindName(node))")
        }
        switch scalar.string {
        case "true": return true
        case "false": return false
        default:
            throw error(.wrongType, at: node, "\(what) must be true or false, found '\(scalar.string)'",
                        hint: "write true or false (not yes/no/on/off)")
        }
    }

    func word<T>(_ node: Node, what: String, _ table: [(String, T)]) throws(PolicyError) -> T {
        let text = try string(node, what: what)
        if let match = table.first(where: { $0.0 == text }) { return match.1 }
        let names = table.map(\.0)
        let best = Self.suggestion(for: text, among: names)
        throw error(.badValue, at: node, "'\(text)' is not a valid \(what)",
                    hint: best.hasPrefix("did") ? best : "one of: " + names.joined(separator: ", "))
    }

    /// A duration: `500ms`, `30s`, `5m`, `2h`, or a bare integer number of seconds.
    func duration(_ node: Node, what: String) throws(PolicyError) -> Duration {
        let text = try string(node, what: what)
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        var number = Substring("")
        var scale: Int64 = 1000
        for (suffix, millis) in units where text.hasSuffix(suffix) {
            let candidate = text.dropLast(suffix.count)
            if !candidate.isEmpty, candidate.allSatisfy(\.isNumber) {
                number = candidate
                scale = millis
                break
            }
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int64(number) else {
            let unitless = !text.isEmpty && text.allSatisfy { $0.isASCII && $0.isNumber }
            throw error(.wrongType, at: node,
                        unitless ? "\(what) '\(text)' has no unit" : "\(what) must be a duration, found '\(text)'",
                        hint: unitless ? "write the unit: \(text)s, \(text)ms, \(text)m or \(text)h" : "write e.g. 500ms, 30s, 5m or 2h")
        }
        let (millis, overflow) = value.multipliedReportingOverflow(by: scale)
        guard !overflow, millis > 0, millis <= 7 * 24 * 3_600_000 else {
            throw error(.outOfRange, at: node, "\(what) '\(text)' is out of range",
                        hint: "a duration is more than 0 and at most 7 days")
        }
        return .milliseconds(millis)
    }

    func sequence(_ node: Node, what: String) throws(PolicyError) -> [Node] {
        try rejectAlias(node)
        guard case let .sequence(sequence) = node else {
            throw error(.wrongType, at: node, "\(what) must be a list, found \(kindName(node))",
                        hint: "write a list as '- item' lines or [a, b]")
        }
        var items: [Node] = []
        for item in sequence {
            try rejectAlias(item)
            items.append(item)
        }
        return items
    }

    /// A list of strings, or a single string taken as a one-element list.
    func stringList(_ node: Node, what: String) throws(PolicyError) -> [(String, Node)] {
        if case .scalar = node { return [(try string(node, what: what), node)] }
        var out: [(String, Node)] = []
        for item in try sequence(node, what: what) { out.append((try string(item, what: "an entry of \(what)"), item)) }
        return out
    }

    /// A hexadecimal digest of `algorithm`'s length.
    func digest(_ node: Node, algorithm: TPMAlgorithm, what: String) throws(PolicyError) -> [UInt8] {
        let text = try string(node, what: what)
        let expected = (algorithm.digestSize ?? 0) * 2
        let isHexDigit = { (c: UInt8) in (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46) }
        guard !text.isEmpty, text.utf8.allSatisfy(isHexDigit) else {
            let bad = text.unicodeScalars.first { !($0.isASCII && isHexDigit(UInt8($0.value))) }
            throw error(.badDigest, at: node,
                        text.isEmpty ? "\(what) is empty" : "\(what) '\(text)' is not hexadecimal ('\(bad.map(String.init) ?? "")' is not a hex digit)",
                        hint: "a \(algorithm.name) digest is \(expected) hex digits (0-9, a-f)")
        }
        guard text.utf8.count == expected, let bytes = Hex.decode(text) else {
            throw error(.badDigestLength, at: node,
                        "\(what) has \(text.utf8.count) hex digits, expected \(expected) for \(algorithm.name)",
                        hint: text.utf8.count == 40 ? "this looks like a sha1 digest; compute it with sha256sum"
                                                    : "compute it with \(algorithm.name)sum")
        }
        return bytes
    }
}

/// The fields of one mapping, in file order, with lookup by key.
struct Fields {
    let node: Node
    let source: PolicySource
    let what: String
    var pairs: [(key: String, keyNode: Node, value: Node)] = []

    subscript(key: String) -> Node? { pairs.first { $0.key == key }?.value }

    func required(_ key: String, hint: String? = nil) throws(PolicyError) -> Node {
        guard let value = self[key] else {
            throw source.error(.missingKey, at: node, "\(what) is missing the required key '\(key)'", hint: hint)
        }
        return value
    }
}
