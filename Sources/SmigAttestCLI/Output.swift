import TPMWire
import ArgumentParser
import Attestation
import Foundation
import Policy
import StateFiles

/// Output shared by every command: pretty JSON (keys in natural order, so PCR "2" before "15"; ISO-8601 dates;
/// no escaped slashes), text lines, tables; errors go to stderr as one line.
enum Output {
    static func jsonString<T: Encodable>(_ value: T, pretty: Bool = true) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try natural(encoder.encode(value), pretty: pretty)
    }

    /// JSON that `JSONEncoder` wrote, again with its keys in natural order (see `StrictJSON.naturallyOrdered`).
    static func natural(_ json: Data, pretty: Bool) throws -> String {
        try StrictJSON.naturallyOrdered(json, pretty: pretty)
    }

    static func json<T: Encodable>(_ value: T) {
        if let text = try? jsonString(value) { line(text) }
    }

    /// One JSON value on one line (JSON Lines: a stream a script reads line by line).
    static func jsonLine<T: Encodable>(_ value: T) {
        if let text = try? jsonString(value, pretty: false) { line(text) }
    }

    /// A plain text table: columns padded to the widest cell.
    static func table(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { i in all.map { $0.indices.contains(i) ? $0[i].count : 0 }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    static func stderr(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Runs `body`: a domain error becomes one line on stderr and an exit code (see ``failure(_:)``).
    static func reporting(_ body: () throws -> Void) throws {
        do { try body() } catch { throw failure(error) }
    }

    /// Errors about what the user gave (status 2): an unsafe or unreadable state file, a policy file that does not
    /// parse, a source that does not exist as written. Everything else that fails is status 1.
    static func isInputError(_ text: String) -> Bool {
        let code = CodedError(text).code ?? ""
        if text.hasPrefix("/"), text.contains(": error: ") { return true }   // a policy diagnostic: FILE:LINE:COL: error:
        return code.hasPrefix("state.") || code.hasPrefix("policy.") || code.hasPrefix("usage.") || code == "measure.bad-source-spec"
    }

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    /// One error line on stderr: `smig-attest: CODE: message (hint: …)`. Under `--json` the same error is one
    /// JSON object instead: `{"error": {"code": …, "message": …, "hint": …}}` (code and hint when the text has them).
    static func error(_ text: String) {
        if jsonErrors {
            let e = CodedError(text)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let line = (try? encoder.encode(["error": e])).flatMap { try? natural($0, pretty: false) } ?? text
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            FileHandle.standardError.write(Data(("smig-attest: " + text + "\n").utf8))
        }
    }

    /// Errors are JSON when the command line asks for JSON output (set once, before the command runs).
    nonisolated(unsafe) static var jsonErrors = false
}

/// An error line taken apart: `CODE: message (hint: …)`, where CODE looks like `quote.bad-signature`.
struct CodedError: Encodable, Equatable {
    var code: String?
    var message: String
    var hint: String?

    init(_ text: String) {
        var rest = Substring(text)
        if let colon = rest.range(of: ": "), Self.isCode(rest[..<colon.lowerBound]) {
            code = String(rest[..<colon.lowerBound])
            rest = rest[colon.upperBound...]
        }
        if rest.hasSuffix(")"), let open = rest.range(of: " (hint: ", options: .backwards) {
            hint = String(rest[open.upperBound..<rest.index(before: rest.endIndex)])
            rest = rest[..<open.lowerBound]
        }
        message = String(rest)
    }

    static func isCode(_ s: Substring) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count >= 2 && parts.allSatisfy { p in !p.isEmpty && p.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_" } }
    }
}

/// A domain failure: print one clear line and exit non-zero.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    let exitCode: Int32
    init(_ message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }
    var description: String { message }
}

extension ParsableCommand {
    /// Runs `body`, turning any thrown error into one line on stderr and an exit code.
    func reportingErrors(_ body: () throws -> Void) throws { try Output.reporting(body) }
}

/// Hex from a command line (an optional 0x prefix), or a ValidationError naming the option.
func parseHex(_ text: String, _ what: String) throws -> [UInt8] {
    let digits = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
    guard let bytes = Hex.decode(digits) else { throw ValidationError("\(what): '\(text)' is not hex") }
    return bytes
}

func readFile(_ path: String) throws -> [UInt8] {
    guard let d = FileManager.default.contents(atPath: path) else { throw CommandFailure("cannot read \(path)", exitCode: 2) }
    return [UInt8](d)
}

func writeFile(_ path: String, _ bytes: some Collection<UInt8>, mode: Int = 0o644) throws {
    let url = URL(fileURLWithPath: path)
    do {
        try Data(bytes).write(to: url, options: [.atomic])
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    } catch {
        throw CommandFailure("cannot write \(path): \(error.localizedDescription)", exitCode: 2)
    }
}

/// Creates (mode 0700) or checks the state directory: not a link, owned by root or the current user, not writable
/// by group or others. A failure is one coded line naming the path, exit status 2.
func prepareStateDirectory(_ path: String) throws {
    do {
        try StateFiles.checkDirectory(path, create: true)
    } catch {
        throw CommandFailure(error.description, exitCode: 2)
    }
}

/// Writes a file in the state directory (atomically, mode 0600, never through a link); exit status 2 on failure.
func writeStateFile(_ path: String, _ bytes: some Collection<UInt8>) throws {
    do {
        try StateFiles.writeAtomically(path, Array(bytes))
    } catch {
        throw CommandFailure(error.description, exitCode: 2)
    }
}
