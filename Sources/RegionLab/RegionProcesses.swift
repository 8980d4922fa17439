import ChildProcesses
package import Foundation
import SyntheticBootLogs
import TPMWire

/// The processes a lab region runs from the `smig-attest` binary (agents, the RC-TCB) and the commands it runs to
/// the end (`tpm provision`, `agent enrol`, …), each optionally inside a host's namespaces (a command prefix such as
/// `nsenter -t PID -n -m -u --`). Output goes to files in the region's directory, never a pipe. Shared by
/// ``LoopbackRegion`` and ``NamespaceRegion``.
package final class RegionProcesses: @unchecked Sendable {
    // @unchecked Sendable: `children` is guarded by `lock`; the rest is immutable.
    package let binary: String
    package let dir: String
    private let lock = NSLock()
    private var children: [String: Process] = [:]

    package struct Failure: Error, CustomStringConvertible {
        package let description: String
        package init(description: String) { self.description = description }
    }

    package init(binary: String, dir: String) {
        self.binary = binary
        self.dir = dir
    }

    /// Runs `smig-attest ARGS` (or `tool`), inside `prefix` when it is not empty, to completion; throws unless it
    /// exits 0. Returns its output.
    @discardableResult
    package func run(_ args: [String], tool: String? = nil, in prefix: [String] = []) throws -> String {
        let p = Process()
        let command = [tool ?? binary] + args
        p.executableURL = URL(fileURLWithPath: prefix.first ?? command[0])
        p.arguments = Array((prefix + command).dropFirst())
        let out = "\(dir)/run-\(UUID().uuidString.prefix(8)).out"
        guard FileManager.default.createFile(atPath: out, contents: nil) else { throw Failure(description: "cannot create \(out)") }
        defer { try? FileManager.default.removeItem(atPath: out) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        try? handle.close()
        let text = (try? String(contentsOfFile: out, encoding: .utf8)) ?? ""
        guard p.terminationStatus == 0 else { throw Failure(description: "\((tool ?? "smig-attest")) \(args.joined(separator: " ")) failed: \(text)") }
        return text
    }

    /// Starts `smig-attest ARGS` (or `executable ARGS`) as the long-running child `name` (inside `prefix` when it is
    /// not empty), its output appended to `DIR/NAME.log`.
    package func spawn(_ name: String, _ args: [String], in prefix: [String] = [], executable: String? = nil) throws {
        let p = Process()
        let command = [executable ?? binary] + args
        p.executableURL = URL(fileURLWithPath: prefix.first ?? command[0])
        p.arguments = Array((prefix + command).dropFirst())
        let log = "\(dir)/\(name).log"
        if !FileManager.default.fileExists(atPath: log), !FileManager.default.createFile(atPath: log, contents: nil) {
            throw Failure(description: "cannot create \(log)")
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        lock.withLock { children[name] = p }
    }

    /// Stops the child `name` (`signal`, SIGTERM by default, then SIGKILL after 5 s), if it runs.
    package func stop(_ name: String, signal: Int32 = SIGTERM) {
        if let p = lock.withLock({ children.removeValue(forKey: name) }) { p.stop(signal: signal, grace: .seconds(5)) }
    }

    /// The child `name` as started last (running or not), nil once stopped.
    package func process(_ name: String) -> Process? { lock.withLock { children[name] } }

    /// What the child `name` wrote so far, over all its runs.
    package func output(_ name: String) -> String { (try? String(contentsOfFile: "\(dir)/\(name).log", encoding: .utf8)) ?? "" }

    /// Stops every child.
    package func stopAll() {
        for p in lock.withLock({ let c = Array(children.values); children = [:]; return c }) { Self.terminate(p) }
    }

    static func terminate(_ p: Process) { p.stop(grace: .seconds(5)) }

    /// Starts `rctcb serve` (with `extra` arguments) as the child `name` and returns its URL on 127.0.0.1 once it wrote
    /// its port. `executable`: another build of the RC-TCB and its leading arguments (e.g. a test tool that crashes
    /// after a given step), given the same `--region … --port-file …` arguments.
    package func startRCTCB(_ name: String = "rctcb", region: String, rctcbDir: String, port: Int, extra: [String] = [],
                            executable: [String] = []) throws -> String {
        let portFile = "\(dir)/\(name).port"
        try? FileManager.default.removeItem(atPath: portFile)
        let serve = ["--region", region, "--dir", rctcbDir, "--port", "\(port)", "--port-file", portFile] + extra
        if let tool = executable.first {
            try spawn(name, Array(executable.dropFirst()) + serve, executable: tool)
        } else {
            try spawn(name, ["rctcb", "serve", "--log-level", "notice"] + serve)
        }
        guard let process = process(name), let port = PortFile.wait(portFile, writtenBy: process, within: .seconds(120)) else {
            throw Failure(description: "the RC-TCB did not start; see \(dir)/\(name).log: \(output(name).suffix(2000))")
        }
        return "https://127.0.0.1:\(port)"
    }

    /// The "firmware" of a software TPM after a reset: extends a synthetic boot log into PCRs 0-7 (through `tcti`,
    /// run inside `prefix`) and leaves the log at `DIR/boot-HOST.bin`, where the host's agent attaches it to its
    /// evidence (the RC-TCB replays it before a rebooted host is trusted again).
    package func boot(tcti: String, host: String, in prefix: [String] = []) throws {
        let log = BootEventLogBuilder(firmware: "\(host) lab firmware")
        for e in log.extends() {
            let digests = e.digests.flatMap { ["--digest", "\($0.0.name):" + Hex.encode($0.1)] }
            try run(["pcr", "extend", "\(e.pcr)"] + digests + ["--tcti", tcti], in: prefix)
        }
        try Data(log.bytes()).write(to: URL(fileURLWithPath: "\(dir)/boot-\(host).bin"))
    }

    /// Polls `condition` every 50 ms; throws after `seconds`.
    package func waitUntil(_ what: String, seconds: Double, _ condition: () throws -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if (try? condition()) == true { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure(description: "timed out after \(Int(seconds)) s waiting for \(what) (logs in \(dir))")
    }

    /// One host entry of a lab region's policy.
    package struct PolicyHost: Sendable {
        package var id: String
        package var address: String
        package var port: Int
        package var golden: String
        /// More keys of the entry, e.g. ", migrations: agent".
        package var extra = ""
    }

    /// The lines of a lab region's policy after `on-state`, unless its builder says others: evacuation of an untrusted
    /// host to re-attested targets, with the lab's migration and evacuation tuning.
    package static let labPolicyTail = """
        targets: {require-state: trusted, max-quote-age: 20s, rechallenge-before-move: true, reattest-after-move: true, prefer: least-loaded}
        migration: {max-bandwidth-mibps: 10240, downtime-limit: 50ms, auto-converge: true}
        evacuation: {max-parallel: 4, no-target: pause}

        """

    /// Writes the region policy of a lab region to `path`: the hosts in one ring, the lab's intervals (challenges
    /// every `challengeInterval` s), then `tail` (``labPolicyTail`` by default). `rctcbPort`: the RC-TCB's port as
    /// the policy names it; `quoteFreshness`: the policy's `quote-freshness` in seconds.
    package static func writeRegionPolicy(to path: String, name: String, rctcb: String, rctcbPort: Int = 8443, hosts: [PolicyHost],
                                          challengeInterval: Double, quoteFreshness: Int = 30, tail: String = labPolicyTail) throws {
        var y = "kind: region\nversion: 1\nname: \(name)\nrc-tcb: {address: \(rctcb), port: \(rctcbPort)}\nhosts:\n"
        for h in hosts { y += "  - {id: \(h.id), address: \(h.address), port: \(h.port), golden: \(h.golden)\(h.extra)}\n" }
        y += "ring: [\(hosts.map(\.id).joined(separator: ", "))]\n"
        y += "intervals: {measurement: 1s, challenge: \(max(1, Int(challengeInterval)))s}\n"
        y += "quote-freshness: \(quoteFreshness)s\nunreachable-timeout: 10s\n"
        y += "on-state: {untrusted: evacuate, unreachable: confirm-then-evacuate, stale: challenge, rebooted: reattest, unknown: challenge}\n"
        y += tail
        try Data(y.utf8).write(to: URL(fileURLWithPath: path))
    }
}
