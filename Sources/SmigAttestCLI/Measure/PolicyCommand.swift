package import ArgumentParser
import Foundation
import Policy

/// `smig-attest policy check FILE...`
package struct PolicyCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "policy",
        abstract: "Work with golden-values and region policy files.",
        subcommands: [PolicyCheckCommand.self])

    package init() {}
}

/// Validates policy files without running anything; one line per file, errors as FILE:LINE:COL.
package struct PolicyCheckCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate golden-values and region policy files (strict schema, positions in every error).",
        discussion: """
        Each file is one YAML document with 'kind: golden-values' or 'kind: region'. Unknown keys, wrong types, \
        bad digest lengths, durations without a unit, measurement names with an unknown source prefix or bound to \
        a process id, and duplicate hosts are errors, printed as FILE:LINE:COL: error: MESSAGE (hint: ...), every \
        independent error of a file (each measurement, digest, PCR, boot-event rule and host on its own), not just \
        the first. For a region, the golden-values files its hosts name (relative to the region file's directory, \
        never outside it; absolute paths only with --allow-absolute-golden) are checked too; a missing one is an \
        error at the `golden:` line that names it. With --json, each file has `errors` (all) and `error` (the first). \
        Exit status 1 if any file is rejected, 2 if one cannot be read.
        """)

    @Argument(help: "Policy files to check.") package var files: [String]
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.") package var json = false
    @Flag(name: .long, help: "Accept absolute 'golden:' paths in region files.") package var allowAbsoluteGolden = false

    package init() {}

    package func validate() throws {
        guard !files.isEmpty else { throw ValidationError("give at least one policy file") }
    }

    /// The outcome for one file (and, for a region, one per golden file its hosts name).
    package struct FileResult: Encodable, Sendable {
        package struct Failure: Encodable, Sendable {
            package var code: String
            package var file: String
            package var line: Int
            package var column: Int
            package var message: String
            package var hint: String?
        }
        package var file: String
        package var ok: Bool
        package var kind: String?
        package var name: String?
        package var summary: String?
        /// The first error (kept for scripts that read one); `errors` has every error of the file, in file order.
        package var error: Failure?
        package var errors: [Failure]?

        init(file: String, ok: Bool, kind: String? = nil, name: String? = nil, summary: String? = nil) {
            self.file = file
            self.ok = ok
            self.kind = kind
            self.name = name
            self.summary = summary
        }

        init(failed error: PolicyError) {
            self.init(file: error.file, ok: false)
            let all = error.all.map { Failure(code: $0.code.rawValue, file: $0.file, line: $0.line, column: $0.column,
                                              message: $0.message, hint: $0.hint) }
            self.file = all.first?.file ?? error.file
            self.error = all.first
            self.errors = all
        }
    }

    /// Checks one policy file; for a region, also the golden files its hosts name (relative to it).
    package static func check(_ path: String, allowAbsoluteGolden: Bool = false) -> [FileResult] {
        do {
            switch try PolicyDocument(contentsOfFile: path) {
            case let .goldenValues(golden):
                let pcrCount = golden.pcrs.values.reduce(0) { $0 + $1.count }
                return [FileResult(file: path, ok: true, kind: "golden-values", name: golden.name,
                                   summary: "\(golden.entries.count) measurements (\(golden.requiredNames.count) required), \(pcrCount) PCR values, \(golden.bootEvents.count) boot-event rules")]
            case let .region(region):
                var results: [FileResult] = []
                var missing: [PolicyError] = []
                var seen: Set<String> = []
                for host in region.hosts {
                    guard let goldenPath = try region.goldenPath(of: host, regionFile: path,
                                                                 allowAbsolute: allowAbsoluteGolden) else { continue }
                    guard seen.insert(goldenPath).inserted else { continue }
                    // A golden file that is not there is the region file's error, at the `golden:` that names it.
                    guard FileManager.default.fileExists(atPath: goldenPath) else {
                        missing.append(PolicyError(
                            .unreadable, file: path, line: host.goldenLine, column: host.goldenColumn,
                            message: "golden-values file '\(host.golden ?? "")' of host '\(host.id)' does not exist (\(goldenPath))",
                            hint: "write it (smig-attest golden capture) or correct the path; it is relative to the region file's directory"))
                        continue
                    }
                    results += check(goldenPath)
                }
                if let error = PolicyError.combined(missing) {
                    results.insert(FileResult(failed: error), at: 0)
                } else {
                    results.insert(FileResult(file: path, ok: true, kind: "region", name: region.name,
                                              summary: "\(region.hosts.count) hosts, ring \(region.ring.joined(separator: " -> ")) -> \(region.ring.first ?? "")"), at: 0)
                }
                return results
            }
        } catch {
            return [FileResult(failed: error)]
        }
    }

    package func run() throws {
        var results: [FileResult] = []
        for file in files { results += Self.check(file, allowAbsoluteGolden: allowAbsoluteGolden) }
        if json {
            Output.json(results)
        } else {
            for result in results {
                if let errors = result.errors {
                    for error in errors {
                        let text = PolicyError(.init(rawValue: error.code), file: error.file, line: error.line,
                                               column: error.column, message: error.message, hint: error.hint)
                        Output.line(text.description)
                    }
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
