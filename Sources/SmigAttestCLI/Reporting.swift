import ArgumentParser
import RegionProtocol
import RegionTCB

extension Output {
    /// The async twin of ``reporting(_:)``.
    static func reportingAsync(_ body: () async throws -> Void) async throws {
        do { try await body() } catch { throw failure(error) }
    }

    /// What a command's error becomes: one line on stderr (``error(_:)``) and the exit code of the one table —
    /// 2 for what the user gave (a missing region directory or certificate file, a transport or TLS failure, an input
    /// error), the command's own code for a `CommandFailure`, else 1 (refused). Argument-parser's own errors pass
    /// through unprinted.
    static func failure(_ error: any Error) -> any Error {
        switch error {
        case let e as RegionError:
            Self.error(e.description)
            return ExitCode([.directoryMissing, .badCertificateFile, .badKeyFile, .badRootCA].contains(e.code) ? 2 : 1)
        case let e as RegionClient.Failure:
            Self.error(e.description)
            return ExitCode(e.code.hasPrefix("transport.") || e.code.hasPrefix("tls.") ? 2 : 1)
        case let e as CommandFailure:
            Self.error(e.message)
            return ExitCode(e.exitCode)
        case is ExitCode, is ValidationError:
            return error
        default:
            Self.error("\(error)")
            return ExitCode(isInputError("\(error)") ? 2 : 1)
        }
    }
}
