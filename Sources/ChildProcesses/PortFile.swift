package import Foundation

/// The file a listener writes its bound port to once it listens (`rctcb serve --port-file`, `agent run --port-file`),
/// and waiting for it while the child that writes it starts.
package enum PortFile {
    /// The port in `path`, nil while the file is missing or does not hold one yet.
    package static func read(_ path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Waits up to `limit` for `path` to hold a port; nil when it does not by then, or when `writer` (the child that
    /// is to write it) exits first. Blocks the calling thread.
    package static func wait(_ path: String, writtenBy writer: Process? = nil, within limit: Duration) -> Int? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let port = read(path) { return port }
            if writer?.isRunning == false || ContinuousClock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    /// ``wait(_:writtenBy:within:)`` for async code.
    package static func wait(_ path: String, writtenBy writer: Process? = nil, within limit: Duration) async -> Int? {
        let deadline = ContinuousClock.now + limit
        while true {
            if let port = read(path) { return port }
            if writer?.isRunning == false || ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
