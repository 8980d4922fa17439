/// A small deterministic mutator (xorshift random numbers): bit flips, byte sets, inserts, deletes, duplicated
/// ranges, splices with another corpus entry, and tokens that matter to the formats fuzzed (JSON and YAML
/// punctuation, anchors, large counts).
struct Mutator {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func below(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    static let tokens: [[UInt8]] = [
        "{", "}", "[", "]", "\"", ":", ",", "null", "true", "-0", "1e999", "\\u0000", "\\ud800", "&a", "*a", "<<:",
        "\n  - ", "\u{FEFF}", "0x1", "00", "\t", "'", "---\n", "!!binary ", "%YAML 1.1\n",
    ].map { Array($0.utf8) } + [[0xFF, 0xFF, 0xFF, 0xFF], [0x00, 0x00, 0x00, 0x00], [0x7F, 0xFF], [0x80, 0x00, 0x00, 0x00]]

    mutating func mutate(_ input: [UInt8], other: [UInt8], maximumLength: Int) -> [UInt8] {
        var bytes = input
        for _ in 0...below(6) {
            switch below(8) {
            case 0 where !bytes.isEmpty:
                let i = below(bytes.count)
                bytes[i] ^= UInt8(1 << below(8))
            case 1 where !bytes.isEmpty:
                bytes[below(bytes.count)] = UInt8(truncatingIfNeeded: next())
            case 2:
                let count = 1 + below(8)
                let at = below(bytes.count + 1)
                bytes.insert(contentsOf: (0..<count).map { _ in UInt8(truncatingIfNeeded: next()) }, at: at)
            case 3 where !bytes.isEmpty:
                let at = below(bytes.count)
                bytes.removeSubrange(at..<min(bytes.count, at + 1 + below(16)))
            case 4 where !bytes.isEmpty:
                let at = below(bytes.count)
                let slice = Array(bytes[at..<min(bytes.count, at + 1 + below(32))])
                bytes.insert(contentsOf: slice, at: below(bytes.count + 1))
            case 5 where !other.isEmpty:
                let cut = below(bytes.count + 1)
                let from = below(other.count)
                bytes = Array(bytes[..<cut]) + Array(other[from...])
            case 6:
                bytes.insert(contentsOf: Self.tokens[below(Self.tokens.count)], at: below(bytes.count + 1))
            default:
                if !bytes.isEmpty { bytes.removeLast(below(min(bytes.count, 4)) ) }
            }
        }
        if bytes.count > maximumLength { bytes.removeLast(bytes.count - maximumLength) }
        return bytes
    }
}
