import Migration

/// A verdict's texts as both stores can keep them. A verdict's code and detail may carry text from a host's evidence
/// (a measurement's name from its log, say), and the strict JSON reader decodes `\u0000` to U+0000: PostgreSQL's
/// `text` refuses it (failing every verdict of the group it is written in) and SQLite's text reader stops at it.
/// Each U+0000 becomes U+FFFD, the character Unicode gives for one that cannot be represented.
extension HostVerdict {
    package var storable: HostVerdict {
        switch self {
        case .trusted, .revoked: self
        case .rebooted(let q, let by, let code, let detail): .rebooted(q, measuredBy: Self.storable(by), code: Self.storable(code), detail: Self.storable(detail))
        case .untrusted(let q, let by, let code, let detail):
            .untrusted(q, measuredBy: Self.storable(by), code: Self.storable(code), detail: Self.storable(detail))
        case .unreachable(let detail): .unreachable(detail: Self.storable(detail))
        case .stale(let before, let detail): .stale(before: before, detail: Self.storable(detail))
        case .evacuating(let cause, let detail): .evacuating(cause: cause.map(Self.storable), detail: detail.map(Self.storable))
        case .evacuated(let cause, let detail): .evacuated(cause: cause.map(Self.storable), detail: detail.map(Self.storable))
        case .evacuationEnded(let detail): .evacuationEnded(detail: Self.storable(detail))
        case .enrolled(let detail): .enrolled(detail: Self.storable(detail))
        case .readmitted(let detail): .readmitted(detail: Self.storable(detail))
        }
    }

    /// `text` with every U+0000 replaced by U+FFFD (``Swift/String/storable``).
    package static func storable(_ text: String) -> String { text.storable }
}
