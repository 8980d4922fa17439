import ChildProcesses
import Foundation
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

    /// Starts `smig-attest ARGS` as the long-running child `name` (inside `prefix` when it is not empty), its output
    /// appended to `DIR/NAME.log`.
    package func spawn(_ name: String, _ args: [String], in prefix: [String] = []) throws {
        let p = Process()
        let command = [binary] + args
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

    /// Stops the child `name` (SIGTERM, then SIGKILL after 5 s), if it runs.
    package func stop(_ name: String) {
        if let p = lock.withLock({ children.removeValue(forKey: name) }) { Self.terminate(p) }
    }

    /// Stops every child.
    package func stopAll() {
        for p in lock.withLock({ let c = Array(children.values); children = [:]; return c }) { Self.terminate(p) }
    }

    static func terminate(_ p: Process) { p.stop(grace: .seconds(5)) }

    /// Starts `rctcb serve` (with `extra` arguments) as the child "rctcb" and returns its URL on 127.0.0.1 once it
    /// wrote its port.
    package func startRCTCB(region: String, rctcbDir: String, port: Int, extra: [String] = []) throws -> String {
        let portFile = "\(dir)/rctcb.port"
        try? FileManager.default.removeItem(atPath: portFile)
        try spawn("rctcb", ["rctcb", "serve", "--region", region, "--dir", rctcbDir, "--port", "\(port)", "--port-file", portFile, "--log-level", "notice"] + extra)
        guard let port = PortFile.wait(portFile, within: .seconds(60)) else {
            throw Failure(description: "the RC-TCB did not start; see \(dir)/rctcb.log")
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

    /// Writes the region policy of a lab region to `path`: the hosts in one ring, the lab's intervals (challenges
    /// every `challengeInterval` s), evacuation of an untrusted host to re-attested targets with the evacuation tuning.
    package static func writeRegionPolicy(to path: String, name: String, rctcb: String, hosts: [PolicyHost], challengeInterval: Double) throws {
        var y = "kind: region\nversion: 1\nname: \(name)\nrc-tcb: {address: \(rctcb), port: 8443}\nhosts:\n"
        for h in hosts { y += "  - {id: \(h.id), address: \(h.address), port: \(h.port), golden: \(h.golden)\(h.extra)}\n" }
        y += "ring: [\(hosts.map(\.id).joined(separator: ", "))]\n"
        y += "intervals: {measurement: 1s, challenge: \(max(1, Int(challengeInterval)))s}\n"
        y += "quote-freshness: 30s\nunreachable-timeout: 10s\n"
        y += "on-state: {untrusted: evacuate, unreachable: confirm-then-evacuate, stale: challenge, rebooted: reattest, unknown: challenge}\n"
        y += "targets: {require-state: trusted, max-quote-age: 20s, rechallenge-before-move: true, reattest-after-move: true, prefer: least-loaded}\n"
        y += "migration: {max-bandwidth-mibps: 10240, downtime-limit: 50ms, auto-converge: true}\n"
        y += "evacuation: {max-parallel: 4, no-target: pause}\n"
        try Data(y.utf8).write(to: URL(fileURLWithPath: path))
    }
}
