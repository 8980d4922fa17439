package import ArgumentParser

/// `smig-attest completions bash|zsh|fish`: the shell completion script of the whole command tree (what
/// argument-parser's hidden `--generate-completion-script` prints), listed in `--help` so operators find it.
package struct CompletionsCommand: ParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "completions",
        abstract: "Print the shell completion script for bash, zsh or fish.",
        discussion: """
        Install it where the shell looks, e.g.
          smig-attest completions bash > /usr/share/bash-completion/completions/smig-attest
          smig-attest completions zsh > /usr/share/zsh/site-functions/_smig-attest
          smig-attest completions fish > /usr/share/fish/vendor_completions.d/smig-attest.fish
        (scripts/install does this).
        """)

    @Argument(help: ArgumentHelp("The shell: bash, zsh or fish.", valueName: "shell")) var shell: String

    package init() {}

    package func validate() throws {
        guard CompletionShell(rawValue: shell) != nil else { throw ValidationError("'\(shell)' is not a shell completions are made for: bash, zsh or fish") }
    }

    package func run() throws {
        guard let shell = CompletionShell(rawValue: shell) else { return }
        Output.line(SmigAttest.completionScript(for: shell))
    }
}
