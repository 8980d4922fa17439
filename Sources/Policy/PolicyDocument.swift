import Yams
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Either kind of policy file, told apart by its `kind:` key.
public enum PolicyDocument: Sendable, Hashable {
    case goldenValues(GoldenValues)
    case region(RegionPolicy)

    /// Decodes a policy document of either kind.
    public init(yaml text: String, file: String) throws(PolicyError) {
        let source = PolicySource(file: file)
        let node = try source.compose(text)
        let kindNode: Node? = node.mapping?.first { $0.key.string == "kind" }?.value
        guard let kindNode else {
            throw source.error(.missingKey, at: node, "the document has no 'kind'",
                               hint: "start with 'kind: golden-values' or 'kind: region'")
        }
        switch try source.string(kindNode, what: "kind") {
        case GoldenValues.kind: self = .goldenValues(try GoldenValues(node: node, source: source))
        case RegionPolicy.kind: self = .region(try RegionPolicy(node: node, source: source))
        case let other:
            throw source.error(.unsupportedSchema, at: kindNode, "unknown kind '\(other)'",
                               hint: "kind is 'golden-values' or 'region'")
        }
    }

    /// Reads and decodes a policy file.
    public init(contentsOfFile path: String) throws(PolicyError) {
        try self.init(yaml: try Self.text(contentsOfFile: path), file: path)
    }

    /// The text of a policy file: at most ``maximumFileSize`` bytes of UTF-8. The only I/O in this module.
    public static func text(contentsOfFile path: String) throws(PolicyError) -> String {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw PolicyError(.unreadable, file: path, line: 0, column: 0, message: "cannot read the file",
                              hint: "check the path and permissions")
        }
        guard data.count <= Self.maximumFileSize else {
            throw PolicyError(.tooLarge, file: path, line: 0, column: 0,
                              message: "the file has \(data.count) bytes; a policy has at most \(Self.maximumFileSize)",
                              hint: "split the golden values, or check that this is the right file")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            throw PolicyError(.yamlSyntax, file: path, line: 0, column: 0, message: "the file is not UTF-8 text")
        }
        return text
    }

    /// The largest policy file read (a golden list of a million SHA-256 digests fits).
    public static let maximumFileSize = 128 << 20

    static func checkHeader(_ top: Fields, expectedKind: String, source: PolicySource) throws(PolicyError) {
        let kindNode = try top.required("kind", hint: "add 'kind: \(expectedKind)'")
        let kind = try source.string(kindNode, what: "kind")
        guard kind == expectedKind else {
            throw source.error(.unsupportedSchema, at: kindNode, "kind is '\(kind)', expected '\(expectedKind)'")
        }
        let versionNode = try top.required("version", hint: "add 'version: 1'")
        let version = try source.int(versionNode, what: "version", range: 0...Int.max)
        guard version == 1 else {
            throw source.error(.unsupportedSchema, at: versionNode, "schema version \(version) is not supported",
                               hint: "this build reads version 1")
        }
    }
}

extension GoldenValues {
    /// Reads and decodes a golden-values file.
    public init(contentsOfFile path: String) throws(PolicyError) {
        switch try PolicyDocument(contentsOfFile: path) {
        case let .goldenValues(golden): self = golden
        case .region:
            throw PolicyError(.unsupportedSchema, file: path, line: 1, column: 1,
                              message: "this is a region policy, not golden values")
        }
    }
}

extension RegionPolicy {
    /// Reads and decodes a region policy file.
    public init(contentsOfFile path: String) throws(PolicyError) {
        switch try PolicyDocument(contentsOfFile: path) {
        case let .region(region): self = region
        case .goldenValues:
            throw PolicyError(.unsupportedSchema, file: path, line: 1, column: 1,
                              message: "this is a golden-values file, not a region policy")
        }
    }
}
