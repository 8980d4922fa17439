public import ArgumentParser

/// The migration commands, registered by the root command: `vms`, `vm`, `migrate`.
/// (`bench migrate` is `BenchMigrate`, registered under `bench`.)
public enum MigrationCommands {
    public static let subcommands: [any ParsableCommand.Type] = [VMsCommand.self, VMCommand.self, MigrateCommand.self]
}
