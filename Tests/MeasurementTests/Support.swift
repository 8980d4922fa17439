import Attestation
import Foundation
import Swtpm

@testable import Measurement

/// A directory under /tmp, removed when the test ends.
final class TemporaryDirectory {
    let path: String
    init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smig-meas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = "\(path)/\(name)"
        let directory = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// Whether CI demands that external tools (qemu, swtpm) be present.
var runningInCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

/// Looks a tool up on PATH.
func which(_ tool: String) -> String? { Executables.which(tool) }

func measurement(_ name: String, _ fill: UInt8, source: String = "file", instance: String? = nil,
                 value: String? = nil) -> NamedMeasurement {
    NamedMeasurement(source: source, name: name, instance: instance, sha256: [UInt8](repeating: fill, count: 32),
                value: value, detail: "test")
}

let hexA = String(repeating: "a", count: 64)
