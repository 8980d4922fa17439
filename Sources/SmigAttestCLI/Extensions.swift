import ArgumentParser

/// Commands contributed by other parts of the CLI (measurement, migration), registered in one place.
let extraSubcommands: [any ParsableCommand.Type] = MeasurementCommands.subcommands + MigrationCommands.subcommands
    + [BootLogCommand.self]
let extraBenchSubcommands: [any ParsableCommand.Type] = [BenchMeasure.self, BenchMigrate.self, BenchBootLog.self, BenchResponse.self,
                                                        BenchRegion.self, BenchFailover.self, BenchCodec.self]
