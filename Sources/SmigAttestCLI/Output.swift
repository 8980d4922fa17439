import ArgumentParser
import Foundation

/// Prints values as pretty JSON (sorted keys) or text; errors go to stderr as one line.
enum Output {
    static func json<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        if let data = try? encoder.encode(value) {
            FileHandle.standardOutput.write(data)
            FileHandle.standardOutput.write(Data("\n".utf8))
        }
    }

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data(("smig-attest: " + text + "\n").utf8))
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
    func reportingErrors(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let e as CommandFailure {
            Output.error(e.message)
            throw ExitCode(e.exitCode)
        } catch let e as ExitCode {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            Output.error("\(error)")
            throw ExitCode(1)
        }
    }
}

func hexString(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

func parseHex(_ text: String, _ what: String) throws -> [UInt8] {
    var s = Substring(text)
    if s.hasPrefix("0x") { s = s.dropFirst(2) }
    guard s.count % 2 == 0 else { throw ValidationError("\(what): '\(text)' is not hex (odd length)") }
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        guard let b = UInt8(s[i..<j], radix: 16) else { throw ValidationError("\(what): '\(text)' is not hex") }
        out.append(b)
        i = j
    }
    return out
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
