extension StrictJSON {
    /// `json` (one JSON document, e.g. what `JSONEncoder` wrote) written again with the members of every object
    /// in natural order — digit runs compare as numbers, so PCR "2" comes before "15" — and without escaped
    /// slashes. Numbers keep their literal text; strings are re-escaped minimally. `pretty` indents by two spaces
    /// as `JSONEncoder`'s `.prettyPrinted` does; otherwise the document is one line.
    public static func naturallyOrdered(_ json: some Collection<UInt8>, pretty: Bool) throws(Error) -> String {
        let value = try parse(json, limits: Limits(maximumBytes: 1 << 30, maximumDepth: 512))
        var out = ""
        value.write(to: &out, pretty: pretty, indent: 0)
        return out
    }

    /// Natural order of two keys: runs of ASCII digits compare by their numeric value (then by length, so "02"
    /// after "2"), everything else by Unicode scalar value. A total order: equal only for equal strings.
    public static func naturallyPrecedes(_ a: String, _ b: String) -> Bool {
        let x = Array(a.unicodeScalars), y = Array(b.unicodeScalars)
        var i = 0, j = 0
        func isDigit(_ s: Unicode.Scalar) -> Bool { s.value >= 0x30 && s.value <= 0x39 }
        while i < x.count, j < y.count {
            if isDigit(x[i]), isDigit(y[j]) {
                let si = i, sj = j
                while i < x.count, isDigit(x[i]) { i += 1 }
                while j < y.count, isDigit(y[j]) { j += 1 }
                let runA = x[si..<i].drop { $0 == "0" }, runB = y[sj..<j].drop { $0 == "0" }
                if runA.count != runB.count { return runA.count < runB.count }
                for (p, q) in zip(runA, runB) where p != q { return p.value < q.value }
                if (i - si) != (j - sj) { return (i - si) < (j - sj) }
            } else {
                if x[i] != y[j] { return x[i].value < y[j].value }
                i += 1
                j += 1
            }
        }
        return x.count - i < y.count - j
    }
}

extension StrictJSON.Value {
    func write(to out: inout String, pretty: Bool, indent: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .number(let text): out += text
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let items):
            guard !items.isEmpty else { out += "[]"; return }
            out += "["
            for (n, item) in items.enumerated() {
                if n > 0 { out += "," }
                if pretty { Self.newline(&out, indent + 1) }
                item.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { Self.newline(&out, indent) }
            out += "]"
        case .object(let members):
            guard !members.isEmpty else { out += "{}"; return }
            out += "{"
            for (n, key) in members.keys.sorted(by: StrictJSON.naturallyPrecedes).enumerated() {
                if n > 0 { out += "," }
                if pretty { Self.newline(&out, indent + 1) }
                Self.writeString(key, to: &out)
                out += pretty ? " : " : ":"
                members[key]?.write(to: &out, pretty: pretty, indent: indent + 1)
            }
            if pretty { Self.newline(&out, indent) }
            out += "}"
        }
    }

    static func newline(_ out: inout String, _ indent: Int) {
        out += "\n"
        out += String(repeating: "  ", count: indent)
    }

    static func writeString(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
