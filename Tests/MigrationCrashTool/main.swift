// Test tool (not shipped): runs one migration with smig-attest's orchestrator and kills itself with SIGKILL
// right after the named step was committed, as a crash of the RC-TCB at that moment would.
//
//     smig-migration-crash STATE-DIR VM TARGET STEP
//     smig-migration-crash --agents INVENTORY RCTCB-DIR HOST=URL,HOST=URL VM TARGET STEP
//
// With --agents the VM moves by migration orders to the hosts' agents, as the RC-TCB orders them: the inventory file
// INVENTORY, the RC-TCB's certificate, key, region CA and order-id prefix from RCTCB-DIR (`rctcb.pem`, `rctcb.key`,
// `region-ca.pem`, `order-prefix`), each host's agent at its URL.
import Foundation
import Migration
import RegionProtocol
import RegionTCB

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: smig-migration-crash STATE-DIR VM TARGET STEP\n       smig-migration-crash --agents INVENTORY RCTCB-DIR HOST=URL,... VM TARGET STEP\n".utf8))
    exit(2)
}

let args = Array(CommandLine.arguments.dropFirst())
let orchestrator: MigrationOrchestrator
let rest: ArraySlice<String>
if args.first == "--agents" {
    guard args.count == 7 else { usage() }
    let inventory = try VMInventory(path: args[1])
    let dir = args[2]
    var agents: [String: String] = [:]
    for pair in args[3].split(separator: ",") {
        guard let eq = pair.firstIndex(of: "=") else { usage() }
        agents[String(pair[..<eq])] = String(pair[pair.index(after: eq)...])
    }
    let client = try RegionClient(caFile: "\(dir)/region-ca.pem", certificate: "\(dir)/rctcb.pem", key: "\(dir)/rctcb.key", peer: .agent)
    let driver = AgentOrderDriver(client: client, agents: agents, inventory: inventory, prefix: try AgentOrderDriver.orderPrefix(directory: dir), tuning: nil)
    orchestrator = MigrationOrchestrator(inventory: inventory, agent: driver)
    rest = args[4...]
} else {
    guard args.count == 4 else { usage() }
    orchestrator = MigrationOrchestrator(inventory: try VMInventory(stateDirectory: args[0]))
    rest = args[1...]
}
let (vm, target) = (rest[rest.startIndex], rest[rest.startIndex + 1])
guard let step = MigrationStep(rawValue: rest[rest.startIndex + 2]) else { usage() }
_ = try await orchestrator.migrate(vm: vm, to: target, afterStep: { done in
    if done == step { kill(getpid(), SIGKILL) }
})
exit(0)
