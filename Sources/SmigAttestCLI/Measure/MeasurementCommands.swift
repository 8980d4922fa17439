package import ArgumentParser
import Foundation

/// The measurement and policy commands, registered by the root command: `policy`, `golden`, `measure`.
/// (`bench measure` is ``BenchMeasure``, registered under `bench`.)
package enum MeasurementCommands {
    package static let subcommands: [any ParsableCommand.Type] = [PolicyCommand.self, GoldenCommand.self,
                                                                 MeasureCommand.self]
}
