public import ArgumentParser
import Foundation

/// The measurement and policy commands, registered by the root command: `policy`, `golden`, `measure`.
/// (`bench measure` is ``BenchMeasure``, registered under `bench`.)
public enum MeasurementCommands {
    public static let subcommands: [any ParsableCommand.Type] = [PolicyCommand.self, GoldenCommand.self,
                                                                 MeasureCommand.self]
}

/// Output helpers for the measurement commands (kept apart from the root's so the folder builds alone).
enum MeasureOutput {
    static func json<T: Encodable>(_ value: T) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
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

    /// Runs `body`; a domain error becomes one line on stderr and exit code 1.
    static func reporting(_ body: () throws -> Void) throws {
        do {
            try body()
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            Self.error("\(error)")
            throw ExitCode(1)
        }
    }
}
