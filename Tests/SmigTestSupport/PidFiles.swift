import Foundation

/// SIGKILLs every process named by a `*.pid` file one level below `directory` (`hosts/HOST/VM.pid`: the QEMU guests
/// a test's inventory started). Synchronous: used from deinit paths and defers.
public func killProcesses(pidFilesUnder directory: String) {
    for sub in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
        for file in (try? FileManager.default.contentsOfDirectory(atPath: "\(directory)/\(sub)")) ?? [] where file.hasSuffix(".pid") {
            if let text = try? String(contentsOfFile: "\(directory)/\(sub)/\(file)", encoding: .utf8),
               let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGKILL)
            }
        }
    }
}
