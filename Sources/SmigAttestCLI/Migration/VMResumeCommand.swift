package import ArgumentParser
import Foundation
import Migration

/// `smig-attest vm resume VM`: the operator lets a VM held paused where it is run again (the RC-TCB holds VMs
/// paused when no trusted target takes them; `evacuation.silent-recovered: keep-paused` leaves that to the
/// operator once their host verified trusted again).
package struct VMResumeCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(commandName: "resume", abstract: "Let a VM held paused run again where it is.")
    @OptionGroup package var options: MigrationStateOptions
    @Argument(help: "VM name.") package var name: String
    package init() {}

    package func run() async throws { try await reportingInventoryErrors(body) }

    func body() async throws {
        try await options.withOrchestrator { try await $0.resumeVM(name, why: "resumed by the operator") }
        print(options.json ? try Output.jsonString(["resumed": name]) : "\(name) running")
    }
}
