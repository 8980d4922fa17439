/// Text from a stranger (an agent's answer, a host's evidence) as both stores can keep it. The strict JSON reader
/// decodes `\u0000` to U+0000: PostgreSQL's `text` refuses it (failing the whole write it is part of) and SQLite's
/// text reader stops at it. Each U+0000 becomes U+FFFD, the character Unicode gives for one that cannot be
/// represented.
extension String {
    /// This text with every U+0000 replaced by U+FFFD (the same string when it has none).
    package var storable: String {
        guard utf8.contains(0) else { return self }
        return String(String.UnicodeScalarView(unicodeScalars.map { $0 == "\u{0}" ? "\u{FFFD}" : $0 }))
    }
}
