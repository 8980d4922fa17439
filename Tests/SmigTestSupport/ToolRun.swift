import Foundation

/// Runs a program for a test and captures its combined output through a file (not a pipe: a daemon the program
/// starts — swtpm, QEMU — could hold a pipe open forever and the read would never end).
public struct ToolRun: Sendable {
    public let status: Int32
    public let output: String

    /// `tool` is a path, or a name looked up on PATH through /usr/bin/env.
    public static func run(_ tool: String, _ args: [String], environment: [String: String] = [:]) throws -> ToolRun {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool.hasPrefix("/") ? tool : "/usr/bin/env")
        p.arguments = tool.hasPrefix("/") ? args : [tool] + args
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        p.environment = env
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("smig-tool-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out) }
        let handle = try FileHandle(forWritingTo: out)
        p.standardOutput = handle
        p.standardError = handle
        try p.run()
        p.waitUntilExit()
        try handle.close()
        return ToolRun(status: p.terminationStatus, output: (try? String(contentsOf: out, encoding: .utf8)) ?? "")
    }
}

/// Where the built `smig-attest` executable is: `$SMIG_ATTEST_BIN`, or beside the test bundle.
public enum TestBinaries {
    public struct NotFound: Error, CustomStringConvertible {
        public let description: String
    }

    public static func smigAttest() throws -> String {
        if let env = ProcessInfo.processInfo.environment["SMIG_ATTEST_BIN"], !env.isEmpty { return env }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("smig-attest").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw NotFound(description: "smig-attest not found near \(exe); run `swift build` first or set SMIG_ATTEST_BIN")
    }

    /// The test-only RC-TCB with an injected step hook (`Tests/RCTCBHookTool`), built beside `smig-attest`.
    public static func rctcbHooked() throws -> String {
        let path = URL(fileURLWithPath: try smigAttest()).deletingLastPathComponent().appendingPathComponent("smig-rctcb-hooked").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw NotFound(description: "\(path) not found; run `swift build --product smig-rctcb-hooked` first")
        }
        return path
    }
}
