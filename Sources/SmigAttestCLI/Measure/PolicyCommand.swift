public import ArgumentParser
import Foundation
import Policy

/// `smig-attest policy check FILE...`
public struct PolicyCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with golden-values and region policy files.",
        subcommands: [PolicyCheckCommand.self])

    public init() {}
}

/// Validates policy files without running anything; one line per file, errors as FILE:LINE:COL.
public struct PolicyCheckCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate golden-values and region policy files (strict schema, positions in every error).",
        discussion: """
        Each file is one YAML document with 'kind: golden-values' or 'kind: region'. Unknown keys, wrong types, \
        bad digest lengths and duplicate hosts are errors, printed as FILE:LINE:COL: error: MESSAGE (hint: ...). \
        For a region, the golden-values files its hosts name (relative to the region file's directory, never \
        outside it; absolute paths only with --allow-absolute-golden) are checked too. \
        Exit status 1 if any file is rejected.
        """)

    @Argument(help: "Policy files to check.") public var files: [String]
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.") public var json = false
    @Flag(name: .long, help: "Accept absolute 'golden:' paths in region files.") public var allowAbsoluteGolden = false

    public init() {}

    public func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one policy file") }
    }

    /// The outcome for one file (and, for a region, one per golden file its hosts name).
    public struct FileResult: Encodable, Sendable {
        public struct Failure: Encodable, Sendable {
            public var code: String
            public var file: String
            public var line: Int
            public var column: Int
            public var message: String
            public var hint: String?
        }
        public var file: String
        public var ok: Bool
        public var kind: String?
        public var name: String?
        public var summary: String?
        public var error: Failure?
    }

    /// Checks one policy file; for a region, also the golden files its hosts name (relative to it).
    public static func check(_ path: String, allowAbsoluteGolden: Bool = false) -> [FileResult] {
        do {
            switch try PolicyDocument(contentsOfFile: path) {
            case let .goldenValues(golden):
                let pcrCount = golden.pcrs.values.reduce(0) { $0 + $1.count }
                return [FileResult(file: path, ok: true, kind: "golden-values", name: golden.name,
                                   summary: "\(golden.entries.count) measurements (\(golden.requiredNames.count) required), \(pcrCount) PCR values, \(golden.bootEvents.count) boot-event rules")]
            case let .region(region):
                var results = [FileResult(file: path, ok: true, kind: "region", name: region.name,
                                          summary: "\(region.hosts.count) hosts, ring \(region.ring.joined(separator: " -> ")) -> \(region.ring.first ?? "")")]
                var seen: Set<String> = []
                for host in region.hosts {
                    guard let goldenPath = try region.goldenPath(of: host, regionFile: path,
                                                                 allowAbsolute: allowAbsoluteGolden) else { continue }
                    if seen.insert(goldenPath).inserted { results += check(goldenPath) }
                }
                return results
            }
        } catch {
            return [FileResult(file: path, ok: false,
                               error: .init(code: error.code.rawValue, file: error.file, line: error.line,
                                            column: error.column, message: error.message, hint: error.hint))]
        }
    }

    public func run() throws {
        var results: [FileResult] = []
        for file in files { results += Self.check(file, allowAbsoluteGolden: allowAbsoluteGolden) }
        if json {
            Output.json(results)
        } else {
            for result in results {
                if let error = result.error {
                    let text = PolicyError(.init(rawValue: error.code), file: error.file, line: error.line,
                                           column: error.column, message: error.message, hint: error.hint)
                    Output.line(text.description)
                } else {
                    Output.line("\(result.file): ok: \(result.kind ?? "") '\(result.name ?? "")', \(result.summary ?? "")")
                }
            }
        }
        // A file that cannot be read is an input error (2); a policy that does not pass the check is a refusal (1).
        if results.contains(where: { $0.error?.code == PolicyError.Code.unreadable.rawValue }) { throw ExitCode(2) }
        if results.contains(where: { !$0.ok }) { throw ExitCode(1) }
    }
}
