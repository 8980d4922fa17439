package import ArgumentParser
import BuildInfo

/// `smig-attest`: keeps virtual machines off compromised hypervisors (SMIG secure migration with TPM 2.0).
package struct SmigAttest: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "smig-attest",
        abstract: "Attest hypervisors with TPM 2.0 quotes and move VMs off the ones that turn bad.",
        discussion: """
        The TPM is reached through a TCTI: --tcti, else $SMIG_TCTI, else device:/dev/tpmrm0 (the kernel's resource \
        manager). A software TPM: swtpm:host=127.0.0.1,port=2321 (see swtpm-setup/swtpm-ctl). Keys and other state \
        live in --state-dir, else $SMIG_STATE_DIR, else /var/lib/smig-attest.

        Exit status, the same for every command:
          0  ok (valid, trusted, done)
          1  refused or failed: a check did not pass (bad signature, wrong nonce, not allowed), or the TPM, \
        QEMU or the RC-TCB failed
          2  usage or input error: a bad argument, or a file that is missing, unreadable, unsafe or malformed
          3  rebooted: a valid quote from a TPM that was reset or restarted since the previous one
          4  untrusted: verified evidence that does not match the golden values
        Errors are one line on stderr, 'smig-attest: CODE: message (hint: ...)'; with --json, one JSON object \
        {"error": {"code", "message", "hint"}}.

        The operator's commands (ivt, host show, ring, events, evacuations, migrate, rctcb reload, rctcb accept-reboot) find the RC-TCB and the \
        admin identity by flag, else environment, else a config file: --rctcb / $SMIG_ATTEST_RCTCB / rctcb:, --dir \
        / $SMIG_ATTEST_DIR / dir:, and --ca, --cert, --key / $SMIG_ATTEST_CA, _CERT, _KEY / ca:, cert:, key: (default \
        DIR/region-ca.pem, admin.pem, admin.key). The file (YAML, those keys, paths relative to it) is \
        $SMIG_ATTEST_CONFIG, else ~/.config/smig-attest/config.yaml, else /etc/smig-attest/config.yaml.

        --version names the build: version, git commit and build day. Shell completions: `smig-attest completions \
        bash|zsh|fish` (scripts/install installs them).
        """,
        version: SmigAttest.version,
        subcommands: SmigAttest.allSubcommands
    )

    /// This build's version, commit and date (`smig-attest --version`).
    package static var version: String { BuildInfo.description }

    package init() {}

    /// The executable's entry point: runs the command and maps every outcome to the exit-status table above
    /// (argument-parser's own usage errors become status 2, in the house error format).
    package static func runMain() async {
        Output.jsonErrors = CommandLine.arguments.dropFirst().contains("--json")
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand { try await async.run() } else { try command.run() }
        } catch let e as ExitCode {
            exit(withError: e)
        } catch {
            let code = exitCode(for: error)
            if error is CleanExit || code == .success { exit(withError: error) }   // --help, --version
            if code == .validationFailure {
                let sub = CommandLine.arguments.dropFirst().prefix { !$0.hasPrefix("-") }.prefix(2).joined(separator: " ")
                Output.error("usage.invalid: \(message(for: error)) (hint: smig-attest \(sub.isEmpty ? "" : sub + " ")--help)")
                exit(withError: ExitCode(2))
            }
            Output.error("\(error)")
            exit(withError: ExitCode(code == .success ? 1 : code.rawValue))
        }
    }

    static var allSubcommands: [any ParsableCommand.Type] {
        [TPMCommand.self, PCRCommand.self, QuoteCommand.self, VerifyCommand.self] + extraSubcommands
            + [RCTCBCommand.self, AgentCommand.self, IVTCommand.self, HostCommand.self, RingCommand.self, EventsCommand.self, EvacuationsCommand.self, DemoCommand.self,
               BenchCommand.self, CompletionsCommand.self]
    }
}

/// `smig-attest bench …`: performance measured against a baseline in the same run.
package struct BenchCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks, each against a baseline measured in the same run (table, or --json).",
        subcommands: [BenchVerify.self] + extraBenchSubcommands
    )

    package init() {}
}
