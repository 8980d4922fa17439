import Foundation
import PackagePlugin

/// Names the build for `smig-attest --version`: before every build, `scripts/build-info` writes the git commit and
/// the build date into a Swift file of the `BuildInfo` target (rewritten only when they change, so an unchanged
/// tree does not recompile). It runs `/bin/sh` and `git` from the system, needs no network, and says `unknown` for
/// a tree without git.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "generated")
        let script = context.package.directoryURL.appending(path: "scripts/build-info")
        return [.prebuildCommand(displayName: "Write the build's commit and date", executable: URL(fileURLWithPath: "/bin/sh"),
                                 arguments: [script.path, context.package.directoryURL.path, output.path], outputFilesDirectory: output)]
    }
}
