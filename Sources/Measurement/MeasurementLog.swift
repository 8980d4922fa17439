#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import Attestation
import Foundation
import Synchronization

/// The persistent, append-only measurement log of one boot: a header line, then one CEL-JSON record per
/// line (``MeasurementRecord``), each append `fsync`'d before the PCR is extended.
///
/// Reopening continues the same log (same boot id). A different boot id means the host rebooted and the PCRs
/// were reset: the old file is kept as `PATH.prev` and a new log starts. A torn last line (a crash in the
/// middle of an append) is cut off on open and reported in ``recoveredTornBytes``; any other damage is
/// ``MeasurementError/Code/logCorrupt`` — the log is evidence and is never silently rewritten.
public final class MeasurementLog: Sendable {
    struct Header: Codable {
        var format: String
        var bootID: String
        enum CodingKeys: String, CodingKey {
            case format
            case bootID = "boot_id"
        }
    }

    static let format = "smig-measurement-log/1"

    public let path: String
    public let bootID: String
    /// Bytes of a torn last line removed when the log was opened (0 normally).
    public let recoveredTornBytes: Int
    /// True when the log was started afresh because the boot id changed (the old one is at `path + ".prev"`).
    public let rotated: Bool
    private let state: Mutex<[MeasurementRecord]>
    private let fd: Int32

    /// The records so far, in order.
    public var records: [MeasurementRecord] { state.withLock { $0 } }

    /// The boot id of the running kernel (`/proc/sys/kernel/random/boot_id`).
    public static func currentBootID() throws(MeasurementError) -> String {
        String(decoding: try POSIXFile.readAll("/proc/sys/kernel/random/boot_id", limit: 4096), as: UTF8.self)
            .trimmingSpaces()
    }

    /// Opens (or creates) the log at `path` for the boot `bootID`.
    public init(path: String, bootID: String) throws(MeasurementError) {
        self.path = path
        self.bootID = bootID
        var records: [MeasurementRecord] = []
        var torn = 0
        var rotated = false
        var create = access(path, F_OK) != 0
        if !create {
            let bytes = try POSIXFile.readAll(path, limit: 1 << 30)
            if !bytes.contains(0x0A) {
                // A crash while the header was being written: no record can exist yet. Keep the bytes aside.
                guard rename(path, path + ".torn") == 0 else {
                    throw MeasurementError(.io, "cannot set aside a torn header: \(POSIXFile.errnoText())", subject: path)
                }
                torn = bytes.count
                create = true
            }
        }
        if !create {
            let bytes = try POSIXFile.readAll(path, limit: 1 << 30)
            let parsed = try Self.parse(bytes, path: path)
            if parsed.header.bootID != bootID {
                guard rename(path, path + ".prev") == 0 else {
                    throw MeasurementError(.io, "cannot rotate the log: \(POSIXFile.errnoText())", subject: path)
                }
                rotated = true
                create = true
            } else {
                records = parsed.records
                if parsed.validLength < bytes.count {
                    torn = bytes.count - parsed.validLength
                    guard truncate(path, off_t(parsed.validLength)) == 0 else {
                        throw MeasurementError(.io, "cannot cut the torn last line: \(POSIXFile.errnoText())", subject: path)
                    }
                }
            }
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw MeasurementError(.io, "cannot open for appending: \(POSIXFile.errnoText())", subject: path)
        }
        self.fd = fd
        self.recoveredTornBytes = torn
        self.rotated = rotated
        self.state = Mutex(records)
        if create {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let header = (try? encoder.encode(Header(format: Self.format, bootID: bootID))) ?? Data()
            try writeLine(Array(header))
            try Self.syncDirectory(of: path)
        } else if torn > 0 {
            guard fsync(fd) == 0 else {
                throw MeasurementError(.io, "fsync failed: \(POSIXFile.errnoText())", subject: path)
            }
        }
    }

    deinit { close(fd) }

    /// Reads the complete records of a log file without opening it for appending (a torn last line is left
    /// out, not repaired). For attaching the log to evidence.
    public static func readRecords(path: String) throws(MeasurementError) -> [MeasurementRecord] {
        try parse(try POSIXFile.readAll(path, limit: 1 << 30), path: path).records
    }

    /// Parses a log file: header, records; returns the length of the valid prefix (before a torn last line).
    static func parse(_ bytes: [UInt8], path: String) throws(MeasurementError)
        -> (header: Header, records: [MeasurementRecord], validLength: Int)
    {
        guard let headerEnd = bytes.firstIndex(of: 0x0A) else {
            throw MeasurementError(.logCorrupt, "the log has no complete header line", subject: path, offset: 0)
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[0..<headerEnd])),
              header.format == format
        else {
            throw MeasurementError(.logCorrupt, "the header is not a \(format) header", subject: path, offset: 0)
        }
        let body = Array(bytes[(headerEnd + 1)...])
        // A torn last line is a tail without a newline; everything before the last newline must parse.
        let complete = (body.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
        let records: MeasurementLogRecords
        do {
            records = try MeasurementLogRecords(jsonLines: Array(body[0..<complete]))
            try MeasurementReplay.checkStructure(records.records)
        } catch {
            throw MeasurementError(.logCorrupt, error.description, subject: path,
                                   offset: error.offset.map { $0 + headerEnd + 1 })
        }
        return (header, records.records, headerEnd + 1 + complete)
    }

    private func writeLine(_ line: [UInt8]) throws(MeasurementError) {
        var data = line
        data.append(0x0A)
        var written = 0
        while written < data.count {
            let count = data.withUnsafeBytes { raw in
                write(fd, raw.baseAddress.map { $0 + written }, raw.count - written)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw MeasurementError(.io, "append failed: \(POSIXFile.errnoText())", subject: path)
            }
            written += count
        }
        guard fsync(fd) == 0 else { throw MeasurementError(.io, "fsync failed: \(POSIXFile.errnoText())", subject: path) }
    }

    private static func syncDirectory(of path: String) throws(MeasurementError) {
        let directory = path.contains("/") ? String(path[..<(path.lastIndex(of: "/") ?? path.endIndex)]) : "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = fsync(fd)
    }

    /// Appends a record for `content` (numbered after the last one) and makes it durable.
    @discardableResult
    public func append(_ content: MeasurementRecord.Content, pcr: Int) throws(MeasurementError) -> MeasurementRecord {
        try state.withLock { (records: inout [MeasurementRecord]) throws(MeasurementError) -> MeasurementRecord in
            let record = MeasurementRecord(recnum: records.count, pcr: pcr, content: content)
            try writeLine(record.jsonLine())
            records.append(record)
            return record
        }
    }
}
