public import Foundation
import Yams

/// A configuration file that is one mapping of known keys — the agent's `agent.json`, the operator's
/// `config.yaml` — checked as strictly as a policy: unknown keys are refused with a did-you-mean, and every error
/// (a missing key, a value of the wrong kind, bad syntax) names the file, line and column.
///
/// JSON is YAML, so one composer gives both formats positions; values are then decoded with `Codable` and a
/// `DecodingError` is placed back on the node it concerns (``error(for:)``).
public struct ConfigurationDocument {
    public let source: PolicySource
    /// What the document is, for messages ("the agent configuration").
    public let what: String
    /// The text, as read (for a `Codable` decoder of the values).
    public let text: String
    private let root: Node

    /// Composes `text` and checks that it is one mapping whose keys are all in `keys`.
    public init(text: String, file: String, what: String, keys: [String]) throws(PolicyError) {
        source = PolicySource(file: file)
        self.what = what
        self.text = text
        root = try source.compose(text)
        _ = try source.mapping(root, what: what, allowed: keys)
    }

    /// Reads and composes the file at `path` (`policy.unreadable` when it cannot be read).
    public init(contentsOf path: String, what: String, keys: [String]) throws(PolicyError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyError(.unreadable, file: path, line: 0, column: 0, message: "cannot read \(what)",
                              hint: "check the path and that this user may read it")
        }
        try self.init(text: String(decoding: data, as: UTF8.self), file: path, what: what, keys: keys)
    }

    /// The string value of a top-level key, or nil when the key is absent.
    public func string(_ key: String) throws(PolicyError) -> String? {
        guard let node = root[key] else { return nil }
        return try source.string(node, what: "'\(key)'")
    }

    /// An error about the value at `path` (or the nearest enclosing node that exists).
    public func error(_ code: PolicyError.Code, at path: [any CodingKey], _ message: String, hint: String? = nil) -> PolicyError {
        source.error(code, at: node(at: path), message, hint: hint)
    }

    /// What a `DecodingError` of this document's values means, placed on the node it concerns.
    public func error(for error: DecodingError) -> PolicyError {
        func name(_ path: [any CodingKey]) -> String {
            path.reduce("") { text, k in k.intValue.map { "\(text)[\($0)]" } ?? (text.isEmpty ? k.stringValue : "\(text).\(k.stringValue)") }
        }
        func kind(_ type: Any.Type) -> String {
            switch type {
            case is String.Type: "a string"
            case is Double.Type, is Int.Type: "a number"
            case is Bool.Type: "true or false"
            case is [String].Type: "a list of strings"
            default: "\(type)"
            }
        }
        switch error {
        case .keyNotFound(let k, let context):
            return self.error(.missingKey, at: context.codingPath, "\(what) is missing the required key '\(name(context.codingPath + [k]))'")
        case .valueNotFound(let type, let context):
            return self.error(.wrongType, at: context.codingPath, "the key '\(name(context.codingPath))' is null; it must be \(kind(type))")
        case .typeMismatch(let type, let context):
            return self.error(.wrongType, at: context.codingPath, "the key '\(name(context.codingPath))' must be \(kind(type))")
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return self.error(.yamlSyntax, at: [], "\(what) is not well-formed")
        case .dataCorrupted(let context):
            return self.error(.badValue, at: context.codingPath, "the key '\(name(context.codingPath))' is malformed")
        @unknown default:
            return self.error(.wrongType, at: [], "not \(what)")
        }
    }

    /// `error` as a configuration's coded error: the code `policy.X` becomes `PREFIX` + `X` (`yaml-syntax` is
    /// `syntax`); the message is `file:line:column: message (hint: …)`, with `hint` when the error has none.
    public static func coded(_ error: PolicyError, prefix: String, hint: String) -> (code: String, message: String) {
        let kind = error.code == .yamlSyntax ? "syntax" : String(error.code.rawValue.dropFirst("policy.".count))
        return ("\(prefix)\(kind)", "\(error.file):\(error.line):\(error.column): \(error.message) (hint: \(error.hint ?? hint))")
    }

    private func node(at path: [any CodingKey]) -> Node {
        var node = root
        for key in path {
            let next: Node?
            switch node {
            case let .mapping(mapping): next = mapping.first { $0.key.string == key.stringValue }?.value
            case let .sequence(sequence): next = key.intValue.flatMap { $0 >= 0 && $0 < sequence.count ? sequence[$0] : nil }
            default: next = nil
            }
            guard let next else { break }
            node = next
        }
        return node
    }
}
