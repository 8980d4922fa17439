#if canImport(Glibc)
import Glibc
#endif
package import Attestation
package import Foundation
package import Measurement
package import Swtpm

/// A directory under /tmp, removed when the test ends.
package final class TemporaryDirectory {
    package let path: String
    package init() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("smig-meas-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        path = url.path
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    package func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = "\(path)/\(name)"
        let directory = (file as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }
}

/// Whether CI demands that external tools (qemu, swtpm) be present.
package var runningInCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

/// A child process started for a test, measured (its text) and attacked (a byte of its code), killed (by its PID) when
/// the test ends.
package final class MeasuredChild {
    package let process = Process()
    package var pid: Int32 { process.processIdentifier }

    package init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    deinit { stop() }

    /// SIGKILL: the test runner's blocked-signal mask is inherited across exec, so SIGTERM may never arrive.
    package func stop() {
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// Waits until the process runs `executable` and its text is stable (dynamic loading finished): the same digest
    /// and mapping count in every measurement for a second (ten in a row, 100 ms apart). Two in a row were not
    /// enough on a loaded machine: QEMU's text measured the same twice and then differed (most likely a stall between
    /// two stages of its start, then more of it mapped).
    package func stableTextMeasurement(of executable: String) throws -> NamedMeasurement {
        var previous: NamedMeasurement?
        var same = 0
        for _ in 0..<600 {
            if ProcessTextSource.executable(of: pid) == executable,
               let current = try? ProcessTextSource(.pid(pid)).measure(pid: pid)
            {
                if let previous, previous.sha256 == current.sha256, previous.detail == current.detail {
                    same += 1
                    if same >= 9 { return current }
                } else {
                    same = 0
                }
                previous = current
            }
            usleep(100_000)
        }
        throw MeasurementError(.processUnavailable, "process text never settled", subject: "pid \(pid)")
    }

    /// Writes one byte into the process's memory through /proc/PID/mem (as a root attacker could).
    package func poke(address: UInt64, xor: UInt8 = 0xFF) throws {
        let fd = open("/proc/\(pid)/mem", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw MeasurementError(.io, "open mem: \(errno)") }
        defer { close(fd) }
        var byte: UInt8 = 0
        guard pread(fd, &byte, 1, off_t(address)) == 1 else { throw MeasurementError(.io, "pread: \(errno)") }
        byte ^= xor
        guard pwrite(fd, &byte, 1, off_t(address)) == 1 else { throw MeasurementError(.io, "pwrite: \(errno)") }
    }

    /// The last byte of the highest executable mapping of `executable` itself (page padding after its code).
    package func lastTextByte(of executable: String) throws -> UInt64 {
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        let mine = try MemoryMapping.parse(maps: maps, subject: "pid \(pid)")
            .filter { $0.isExecutable && $0.path == executable }
        guard let last = mine.max(by: { $0.end < $1.end }) else {
            throw MeasurementError(.processUnavailable, "no text mapping of \(executable)")
        }
        return last.end - 1
    }
}

package func requireTool(_ name: String) throws -> String {
    if let path = Executables.which(name) { return path }
    // Never a silent skip: the test command installs every tool these tests use.
    throw MeasurementError(.noSuchProcess, "\(name) is required but not installed\(runningInCI ? " (CI=true)" : "")")
}

/// Starts a private swtpm; a missing swtpm is a failure, never a skip.
package func startSwtpm() throws -> SoftwareTPM {
    guard SoftwareTPM.isAvailable else {
        // Never a silent skip: the test command installs swtpm.
        throw MeasurementError(.extendFailed, "swtpm is required but not installed\(runningInCI ? " (CI=true)" : "")")
    }
    let tpm = try SoftwareTPM()
    try tpm.start()
    return tpm
}
