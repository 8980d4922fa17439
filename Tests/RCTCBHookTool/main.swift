// Test tool (not shipped): runs the RC-TCB as `smig-attest rctcb serve` does, with one step hook injected into
// its decision engine, for the evacuation tests that need a real RC-TCB process at a given step:
//
//     smig-rctcb-hooked --crash-after STEP  SERVE-OPTIONS…   SIGKILLs itself right after STEP was committed
//     smig-rctcb-hooked --run-after STEP=COMMAND SERVE-OPTIONS…   runs `/bin/sh -c COMMAND` there and waits for it
//
// SERVE-OPTIONS: --region FILE --dir DIR [--listen ADDRESS] [--port N] [--port-file FILE] [--inventory FILE]
//                [--store postgresql://…] [--lease SECONDS].
//     smig-rctcb-hooked --changes off SERVE-OPTIONS…   no step hook; the RC-TCB does not LISTEN for the store's changes
//     … --enrolment-challenge-lifetime SECONDS          with any of those: how long an enrolment challenge is open (60)
// Steps are evacuation events (`evacuation.migrated`), migration steps (`transferred`) and an enrolment's completion
// arriving (`enrolment.completing`, before it is checked).
import Foundation
import Logging
import RegionStorePostgres
import RegionTCB

func usage(_ why: String) -> Never {
    FileHandle.standardError.write(Data("smig-rctcb-hooked: \(why)\nusage: smig-rctcb-hooked (--crash-after STEP | --run-after STEP=COMMAND) --region FILE --dir DIR [--listen A] [--port N] [--port-file F] [--inventory F]\n".utf8))
    exit(2)
}

var options: [String: String] = [:]
var args = CommandLine.arguments.dropFirst()
while let key = args.popFirst() {
    guard key.hasPrefix("--"), let value = args.popFirst() else { usage("'\(key)' needs a value") }
    guard ["--crash-after", "--run-after", "--changes", "--region", "--dir", "--listen", "--port", "--port-file", "--inventory", "--store", "--lease",
           "--enrolment-challenge-lifetime"].contains(key) else { usage("unknown option '\(key)'") }
    options[key] = value
}
guard let region = options["--region"], let dir = options["--dir"] else { usage("--region and --dir are required") }

let hook: (@Sendable (String) -> Void)?
if options["--changes"] == "off", options["--crash-after"] == nil, options["--run-after"] == nil {
    hook = nil
} else if let step = options["--crash-after"] {
    hook = { done in if done == step { kill(getpid(), SIGKILL) } }
} else if let spec = options["--run-after"], let eq = spec.firstIndex(of: "=") {
    let step = String(spec[..<eq]), command = String(spec[spec.index(after: eq)...])
    hook = { done in
        guard done == step else { return }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try? p.run()
        p.waitUntilExit()
    }
} else {
    usage("one of --crash-after STEP, --run-after STEP=COMMAND or --changes off is required")
}

var logger = Logger(label: "smig-rctcb-hooked")
logger.logLevel = .notice
let listen = options["--listen"] ?? "127.0.0.1"
let portFile = options["--port-file"]
let log = logger
do {
    var openStore: (@Sendable (String) async throws -> any RegionStore)?
    if let url = options["--store"] {
        openStore = { region in try await PostgresRegionStore.open(url: url, region: region, logger: log) }
    }
    let runner = try await RCTCBRunner(directory: RegionDirectory(dir), regionFile: region, logger: logger, inventory: options["--inventory"],
                                       openStore: openStore,
                                       lease: .milliseconds(Int64((Double(options["--lease"] ?? "3") ?? 3) * 1000)),
                                       followChanges: options["--changes"] != "off",
                                       enrolmentChallengeLifetime: Double(options["--enrolment-challenge-lifetime"] ?? "60") ?? 60, stepHook: hook)
    try await runner.run(host: listen, port: Int(options["--port"] ?? "8443") ?? 8443) { bound in
        log.notice("RC-TCB (hooked) listening", metadata: ["attest.address": "\(listen):\(bound)"])
        if let portFile { try? "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
    }
} catch {
    FileHandle.standardError.write(Data("smig-rctcb-hooked: \(error)\n".utf8))
    exit(1)
}
