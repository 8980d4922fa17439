// Test tool (not shipped): runs one migration with smig-attest's orchestrator and kills itself with SIGKILL
// right after the named step was committed, as a crash of the RC-TCB at that moment would.
//
//     smig-migration-crash STATE-DIR VM TARGET STEP
import Foundation
import Migration

let args = CommandLine.arguments
guard args.count == 5, let step = MigrationStep(rawValue: args[4]) else {
    FileHandle.standardError.write(Data("usage: smig-migration-crash STATE-DIR VM TARGET STEP\n".utf8))
    exit(2)
}
let orchestrator = MigrationOrchestrator(inventory: try VMInventory(stateDirectory: args[1]))
_ = try await orchestrator.migrate(vm: args[2], to: args[3], afterStep: { done in
    if done == step { kill(getpid(), SIGKILL) }
})
exit(0)
