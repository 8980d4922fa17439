public import ArgumentParser

/// `smig-attest`: keeps virtual machines off compromised hypervisors (SMIG secure migration with TPM 2.0).
public struct SmigAttest: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "smig-attest",
        abstract: "Attest hypervisors with TPM 2.0 quotes and move VMs off the ones that turn bad.",
        discussion: """
        The TPM is reached through a TCTI: --tcti, else $SMIG_TCTI, else device:/dev/tpmrm0 (the kernel's resource \
        manager). A software TPM: swtpm:host=127.0.0.1,port=2321 (see swtpm-setup/swtpm-ctl). Keys and other state \
        live in --state-dir, else $SMIG_STATE_DIR, else /var/lib/smig-attest.
        """,
        subcommands: SmigAttest.allSubcommands
    )

    public init() {}

    static var allSubcommands: [any ParsableCommand.Type] {
        [TPMCommand.self, PCRCommand.self, QuoteCommand.self, VerifyCommand.self] + extraSubcommands
            + [RCTCBCommand.self, AgentCommand.self, IVTCommand.self, RingCommand.self, EventsCommand.self, DemoCommand.self, BenchCommand.self]
    }
}

/// `smig-attest bench …`: performance measured against a baseline in the same run.
public struct BenchCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each against a baseline measured in the same run (table, or --json).",
        subcommands: [BenchVerify.self] + extraBenchSubcommands
    )

    public init() {}
}
