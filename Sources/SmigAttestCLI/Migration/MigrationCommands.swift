package import ArgumentParser

/// The migration commands, registered by the root command: `vms`, `vm`, `migrate`.
/// (`bench migrate` is `BenchMigrate`, registered under `bench`.)
package enum MigrationCommands {
    package static let subcommands: [any ParsableCommand.Type] = [VMsCommand.self, VMCommand.self, MigrateCommand.self]
}
