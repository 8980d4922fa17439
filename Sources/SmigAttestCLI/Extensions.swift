import ArgumentParser

/// Commands contributed by other parts of the CLI (measurement, migration), registered in one place.
let extraSubcommands: [any ParsableCommand.Type] = []
let extraBenchSubcommands: [any ParsableCommand.Type] = []
