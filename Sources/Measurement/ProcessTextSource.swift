#if canImport(Glibc)
import Attestation
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Crypto

/// One line of `/proc/PID/maps`.
package struct MemoryMapping: Sendable, Hashable {
    package var start: UInt64
    package var end: UInt64
    package var permissions: String
    package var fileOffset: UInt64
    package var inode: UInt64
    /// The mapped file, a pseudo-name such as `[vdso]`, or empty for anonymous memory.
    package var path: String

    package var isExecutable: Bool { permissions.utf8.count == 4 && Array(permissions.utf8)[2] == UInt8(ascii: "x") }
    /// A mapping of a regular file (not anonymous memory, not a kernel pseudo-mapping like `[vdso]`).
    package var isFileBacked: Bool { inode != 0 && path.hasPrefix("/") }
    package var length: UInt64 { end - start }

    /// Parses `/proc/PID/maps` text strictly: every line must have the six fields (path optional).
    package static func parse(maps text: String, subject: String) throws(MeasurementError) -> [MemoryMapping] {
        var out: [MemoryMapping] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let fields = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            func bad(_ why: String) -> MeasurementError {
                MeasurementError(.malformedProcFile, "maps line \(number + 1): \(why)", subject: subject)
            }
            guard fields.count >= 5 else { throw bad("fewer than 5 fields") }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                  start <= end
            else { throw bad("bad address range '\(fields[0])'") }
            guard fields[1].utf8.count == 4 else { throw bad("bad permissions '\(fields[1])'") }
            guard let offset = UInt64(fields[2], radix: 16) else { throw bad("bad offset '\(fields[2])'") }
            guard let inode = UInt64(fields[4]) else { throw bad("bad inode '\(fields[4])'") }
            let path = fields.count > 5 ? String(fields[5].drop { $0 == " " }) : ""
            out.append(MemoryMapping(start: start, end: end, permissions: String(fields[1]), fileOffset: offset,
                                     inode: inode, path: path))
        }
        return out
    }
}

/// `process-text`: the executable, file-backed mappings of a running process, read from `/proc/PID/mem`.
///
/// What is hashed, per mapping sorted by (path, file offset) so that address-space layout randomisation does
/// not change the digest: the path, the file offset and the length (as text, NUL-separated), then the bytes of
/// the mapping as the process sees them now. A byte written into the process's code changes the digest.
///
/// Anonymous executable memory (a JIT such as QEMU's TCG translation buffer) changes by design and is not
/// hashed; the detail reports how much of it there is. Kernel pseudo-mappings (`[vdso]`, `[vsyscall]`) are
/// the kernel's, covered by the boot measurements, and are skipped.
package struct ProcessTextSource: MeasurementSource {
    package enum Selector: Sendable, Hashable {
        case pid(Int32)
        /// Every running process whose `/proc/PID/exe` is this path.
        case executable(String)
    }

    package let kind = "process-text"
    package var selector: Selector
    /// The procfs root (a parameter so tests can point at a fixture; `/proc` in production).
    package var procRoot: String

    package init(_ selector: Selector, procRoot: String = "/proc") {
        self.selector = selector
        self.procRoot = procRoot
    }

    package func measure() throws(MeasurementError) -> [NamedMeasurement] {
        switch selector {
        case let .pid(pid):
            return [try measure(pid: pid)]
        case let .executable(path):
            let pids = try Self.pids(running: path, procRoot: procRoot)
            guard !pids.isEmpty else {
                throw MeasurementError(.noSuchProcess, "no running process has this executable", subject: path)
            }
            var out: [NamedMeasurement] = []
            for pid in pids {
                do {
                    out.append(try measure(pid: pid))
                } catch where error.code == .processUnavailable {
                    continue  // exited between the scan and the read
                }
            }
            return out
        }
    }

    /// The executable path of a process (`/proc/PID/exe`), without a " (deleted)" suffix.
    package static func executable(of pid: Int32, procRoot: String = "/proc") -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink("\(procRoot)/\(pid)/exe", &buffer, buffer.count - 1)
        guard count > 0 else { return nil }
        let bytes = buffer[0..<count].map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// PIDs whose executable is `path`, ascending.
    package static func pids(running path: String, procRoot: String = "/proc") throws(MeasurementError) -> [Int32] {
        guard let dir = opendir(procRoot) else {
            throw MeasurementError(.io, "cannot list: \(POSIXFile.errnoText())", subject: procRoot)
        }
        defer { closedir(dir) }
        var out: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = Int32(name), pid > 0 else { continue }
            if let exe = executable(of: pid, procRoot: procRoot), exe == path || exe == path + " (deleted)" {
                out.append(pid)
            }
        }
        return out.sorted()
    }

    /// Measures one process.
    package func measure(pid: Int32) throws(MeasurementError) -> NamedMeasurement {
        let subject = "pid \(pid)"
        let mapsText: [UInt8]
        do {
            mapsText = try POSIXFile.readAll("\(procRoot)/\(pid)/maps", limit: 16 << 20, code: .processUnavailable)
        } catch {
            throw MeasurementError(.processUnavailable, error.reason, subject: subject)
        }
        let exe = Self.executable(of: pid, procRoot: procRoot) ?? "?"
        let mappings = try MemoryMapping.parse(maps: String(decoding: mapsText, as: UTF8.self), subject: subject)
        let executable = mappings.filter(\.isExecutable)
        let hashed = executable.filter(\.isFileBacked).sorted {
            ($0.path, $0.fileOffset, $0.start) < ($1.path, $1.fileOffset, $1.start)
        }
        let anonymous = executable.filter { !$0.isFileBacked && !$0.path.hasPrefix("[v") }
        let memory = try POSIXFile(path: "\(procRoot)/\(pid)/mem", code: .processUnavailable)
        var hasher = SHA256()
        var total: UInt64 = 0
        let headers = hashed.map { Array("\($0.path)\0\(String($0.fileOffset, radix: 16))\0\($0.length)\0".utf8) }
        var nextHeader = 0
        try PipelinedReader().run(hashed.map { .init(file: memory, offset: $0.start, length: $0.length) },
                                  shortReadCode: .processUnavailable) { index, chunk in
            while nextHeader <= index {
                hasher.update(data: headers[nextHeader])
                nextHeader += 1
            }
            hasher.update(bufferPointer: chunk)
            total += UInt64(chunk.count)
        }
        while nextHeader < headers.count {
            hasher.update(data: headers[nextHeader])
            nextHeader += 1
        }
        let anonymousBytes = anonymous.reduce(UInt64(0)) { $0 + $1.length }
        var detail = "pid \(pid), \(hashed.count) executable mappings, \(total) bytes"
        if !anonymous.isEmpty {
            detail += "; \(anonymous.count) anonymous executable mappings (\(anonymousBytes) bytes) not hashed"
        }
        return NamedMeasurement(source: kind, name: "process-text:\(exe)", instance: String(pid),
                           sha256: Array(hasher.finalize()), detail: detail)
    }

    /// The raw bytes of the process's file-backed executable mappings, in hashing order (for the benchmark,
    /// which compares measuring against hashing the same bytes in memory).
    package func textBytes(pid: Int32) throws(MeasurementError) -> [UInt8] {
        let mapsText = try POSIXFile.readAll("\(procRoot)/\(pid)/maps", limit: 16 << 20, code: .processUnavailable)
        let mappings = try MemoryMapping.parse(maps: String(decoding: mapsText, as: UTF8.self), subject: "pid \(pid)")
        let hashed = mappings.filter { $0.isExecutable && $0.isFileBacked }.sorted {
            ($0.path, $0.fileOffset, $0.start) < ($1.path, $1.fileOffset, $1.start)
        }
        let memory = try POSIXFile(path: "\(procRoot)/\(pid)/mem", code: .processUnavailable)
        var out: [UInt8] = []
        for mapping in hashed {
            guard let length = Int(exactly: mapping.length), length <= 1 << 30 else { continue }
            var chunk = [UInt8](repeating: 0, count: length)
            var done = 0
            while done < length {
                let count = try withMutableBytes(&chunk) { raw throws(MeasurementError) in
                    try memory.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[done...]),
                                    offset: mapping.start + UInt64(done))
                }
                guard count > 0 else {
                    throw MeasurementError(.processUnavailable, "short read of process memory", subject: "pid \(pid)")
                }
                done += count
            }
            out.append(contentsOf: chunk)
        }
        return out
    }
}
