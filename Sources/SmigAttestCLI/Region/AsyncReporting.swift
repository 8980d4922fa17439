import ArgumentParser
import RegionProtocol
import RegionTCB

extension Output {
    /// The async twin of `reporting`: region and transport errors print their code and exit 1 (refused) or 2.
    static func reportingAsync(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let e as RegionError {
            error(e.description)
            throw ExitCode(e.code == .directoryMissing || e.code == .badCertificateFile || e.code == .badKeyFile ? 2 : 1)
        } catch let e as RegionClient.Failure {
            error(e.description)
            throw ExitCode(e.code.hasPrefix("transport.") ? 2 : 1)
        } catch let e as CommandFailure {
            error(e.message)
            throw ExitCode(e.exitCode)
        } catch let e as ExitCode {
            throw e
        } catch let e as ValidationError {
            throw e
        } catch {
            Self.error("\(error)")
            throw ExitCode(1)
        }
    }
}
