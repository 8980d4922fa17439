import Migration

/// A verdict's texts as both stores can keep them. A verdict's code and detail may carry text from a host's evidence
/// (a measurement's name from its log, say), and the strict JSON reader decodes `\u0000` to U+0000: PostgreSQL's
/// `text` refuses it (failing every verdict of the group it is written in) and SQLite's text reader stops at it.
/// Each U+0000 becomes U+FFFD (``Swift/String/storable``), in every text of the verdict.
extension HostVerdict {
    package var storable: HostVerdict {
        switch self {
        case .trusted, .revoked: self
        case .rebooted(let q, let by, let code, let detail): .rebooted(q, measuredBy: by.storable, code: code.storable, detail: detail.storable)
        case .untrusted(let q, let by, let code, let detail):
            .untrusted(q, measuredBy: by.storable, code: code.storable, detail: detail.storable)
        case .unreachable(let detail): .unreachable(detail: detail.storable)
        case .stale(let before, let detail): .stale(before: before, detail: detail.storable)
        case .evacuating(let cause, let detail): .evacuating(cause: cause?.storable, detail: detail?.storable)
        case .evacuated(let cause, let detail): .evacuated(cause: cause?.storable, detail: detail?.storable)
        case .evacuationEnded(let detail): .evacuationEnded(detail: detail.storable)
        case .enrolled(let detail): .enrolled(detail: detail.storable)
        case .readmitted(let detail): .readmitted(detail: detail.storable)
        }
    }
}
