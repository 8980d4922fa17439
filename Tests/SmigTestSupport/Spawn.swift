import Foundation
import NamespaceLab

/// Runs a program with posix_spawn and reaps it with waitpid, polling (NamespaceLab's ``LabSpawn``). For programs
/// that start daemons of their own (QEMU with -daemonize): the test never depends on Foundation's child-process
/// bookkeeping for them.
public enum Spawn {
    public struct Result: Sendable {
        public let status: Int32
        public let output: String
    }

    public static func run(_ path: String, _ args: [String], seconds: Double = 600) async throws -> Result {
        do {
            let result = try await LabSpawn.run(path, args, seconds: seconds)
            return Result(status: result.status, output: result.output)
        } catch let failure as LabSpawn.Failure {
            throw SpawnFailure(description: failure.description)
        }
    }
}

public struct SpawnFailure: Error, CustomStringConvertible {
    public let description: String
}
